"""The pipeline: its functions, the state machine running the description's ASL file, and the S3
notification that starts it on uploads."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.function import SpecFunction
from infra.context import BuildContext
from mlops.definition.description import (
    ROLES,
    S3_NOTIFICATIONS,
    STATE_MACHINES,
    FunctionSpec,
    Ref,
    RoleSpec,
    StateMachineSpec,
    functions_of,
    state_machine_definition,
)


def machines_started_by(spec: FunctionSpec) -> set[str]:
    """State machines a function's environment names (it starts them, so it needs their ARNs)."""
    return {
        value.name for value in spec.env.values() if isinstance(value, Ref) and value.kind == "state_machine"
    }


def machine_steps(machine: StateMachineSpec) -> set[str]:
    """Functions a state machine's definition invokes (it needs their ARNs)."""
    return {ref.name for ref in machine.substitutions.values() if ref.kind == "function"}


class Pipeline(Construct):
    def __init__(self, scope: Construct, construct_id: str, context: BuildContext) -> None:
        super().__init__(scope, construct_id)
        self._stage = context.stage
        self._resources = resources = context.resources
        for role in ROLES:
            resources.roles[role.name] = self._service_role(role)
        self.functions: dict[str, SpecFunction] = {}
        # A state machine needs its steps' ARNs and a function that starts one needs the machine's
        # (promotion is a pipeline step and starts rollouts): build each once what it names exists.
        functions = {spec.name: spec for spec in functions_of("pipeline")}
        machines = {machine.name: machine for machine in STATE_MACHINES}
        while functions or machines:
            ready = [f for f in functions.values() if machines_started_by(f) <= set(resources.state_machines)]
            for spec in ready:
                del functions[spec.name]
                self.functions[spec.name] = SpecFunction(self, spec, context)
            runnable = [m for m in machines.values() if machine_steps(m) <= set(resources.functions)]
            for machine in runnable:
                del machines[machine.name]
                resources.state_machines[machine.name] = self._state_machine(machine)
            if not ready and not runnable:
                raise ValueError(f"Circular references among {sorted([*functions, *machines])}.")
        for notification in S3_NOTIFICATIONS:
            bucket = resources.bucket(notification.bucket)
            assert isinstance(bucket, s3.Bucket)
            bucket.add_event_notification(
                s3.EventType.OBJECT_CREATED,
                s3n.LambdaDestination(resources.function(notification.function)),
                s3.NotificationKeyFilter(prefix=notification.prefix),
            )

    def _service_role(self, spec: RoleSpec) -> iam.Role:
        role = iam.Role(
            self,
            f"{spec.name.capitalize()}Role",
            assumed_by=iam.ServicePrincipal(spec.service),
            description=f"{self._stage.resource_name(spec.name)}: {spec.purpose}"[:1000],
        )
        for ref in spec.access:
            self._resources.grant(ref, role)
        for permission in spec.permissions:
            role.add_to_policy(self._resources.permission_statement(permission.for_stage(self._stage.name)))
        return role

    def _state_machine(self, spec: StateMachineSpec) -> sfn.StateMachine:
        name = self._stage.resource_name(spec.name)
        log_group = logs.LogGroup(
            self,
            f"{spec.name.capitalize()}Logs",
            # The vended-logs prefix keeps the CloudWatch Logs resource policy small.
            log_group_name=f"/aws/vendedlogs/states/{name}",
            retention=self._stage.log_retention,
            encryption_key=self._resources.key,
            removal_policy=self._stage.removal_policy,
        )
        machine = sfn.StateMachine(
            self,
            f"{spec.name.capitalize()}StateMachine",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(state_machine_definition(spec)),
            definition_substitutions={
                key: self._resources.resolve(ref) for key, ref in spec.substitutions.items()
            },
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
        )
        # The definition is a file, so CDK cannot see which functions it invokes: grant them explicitly.
        for ref in spec.substitutions.values():
            if ref.kind == "function":
                self._resources.function(ref.name).grant_invoke(machine)
        for permission in spec.permissions:
            self._resources.grant_permission(permission.for_stage(self._stage.name), machine.role)
        return machine
