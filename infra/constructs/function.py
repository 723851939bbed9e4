"""One Lambda function built from its ``FunctionSpec``: its own role, log group, environment and grants."""

from __future__ import annotations

from typing import Any

from aws_cdk import Annotations, Duration, IgnoreMode, Size
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constants import LIVE_ALIAS, PYTHON_VERSION, StageConfig
from infra.constructs.packaging import ARCHITECTURE, RUNTIME
from infra.context import BuildContext
from infra.nag import acknowledge
from infra.resources import HANDED_ON_KINDS, StackResources
from mlops.definition.description import (
    ALARM_RULES,
    EXECUTION_RULES,
    S3_NOTIFICATIONS,
    SCHEDULES,
    FunctionSpec,
    Ref,
    Staged,
    project_root,
)

# Variables every deployed function gets besides its description's: the stage, which the settings read.
STAGE_VARIABLE = "STAGE_NAME"
# Bytecode a local run left behind: not part of the function, and it would change the asset's hash.
BYTECODE = ("**/__pycache__", "*.pyc")
# Asynchronous invocations (S3, EventBridge) retried by Lambda before the event goes to the queue.
ASYNC_RETRY_ATTEMPTS = 2


def asynchronously_invoked() -> frozenset[str]:
    """Functions that S3 notifications, schedules or event rules invoke: they need a failure destination."""
    targets = [n.function for n in S3_NOTIFICATIONS] + [s.function for s in SCHEDULES]
    rules = [rule.function for rule in ALARM_RULES] + [rule.function for rule in EXECUTION_RULES]
    return frozenset(targets + rules)


def handler_file(spec: FunctionSpec) -> str:
    module = spec.handler.rsplit(".", 1)[0]
    return f"{spec.code_dir}/{module.replace('.', '/')}.py"


def environment_refs(spec: FunctionSpec) -> list[Ref]:
    return [value for value in spec.env.values() if isinstance(value, Ref)]


class SpecFunction(Construct):
    """A function exactly as the description states it, with least-privilege access to what its
    environment names (read and write), plus the permissions the description lists for it."""

    def __init__(
        self,
        scope: Construct,
        spec: FunctionSpec,
        context: BuildContext,
    ) -> None:
        super().__init__(scope, f"{spec.name.capitalize()}Function")
        stage, resources = context.stage, context.resources
        handler_path = project_root() / handler_file(spec)
        if not handler_path.is_file():
            raise FileNotFoundError(
                f"Function {spec.name!r} is in the stack description but {handler_file(spec)} does not exist."
            )
        self.spec = spec
        self.function_name = stage.resource_name(spec.name)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{self.function_name}: {spec.description}"[:1000],
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{self.function_name}",
            retention=stage.log_retention,
            encryption_key=resources.key,
            removal_policy=stage.removal_policy,
        )
        environment = {key: self._variable(value, stage, resources) for key, value in spec.env.items()}
        environment[STAGE_VARIABLE] = stage.name
        is_async = spec.name in asynchronously_invoked()
        # Lambda takes SnapStart or provisioned concurrency on a version, not both.
        snap_start = spec.snap_start and spec.packaging == "zip" and not stage.provisioned_concurrency
        common: dict[str, Any] = {
            "function_name": self.function_name,
            "description": spec.description,
            "role": self.role,
            "memory_size": stage.function_memory_mb(spec),
            "timeout": Duration.seconds(spec.timeout_s),
            "ephemeral_storage_size": Size.mebibytes(spec.ephemeral_storage_mb),
            "environment": environment,
            "architecture": ARCHITECTURE,
            "tracing": lambda_.Tracing.ACTIVE,
            "log_group": self.log_group,
            "reserved_concurrent_executions": stage.function_reserved_concurrency(spec),
            "on_failure": destinations.SqsDestination(context.failed_events) if is_async else None,
            "retry_attempts": ASYNC_RETRY_ATTEMPTS if is_async else None,
        }
        self.function: lambda_.Function
        if spec.packaging == "image":
            self.function = lambda_.DockerImageFunction(
                self, "Function", code=context.packaging.image_code(spec), **common
            )
        else:
            self.function = lambda_.Function(
                self,
                "Function",
                runtime=RUNTIME,
                handler=spec.handler,
                code=lambda_.Code.from_asset(
                    str(project_root() / spec.code_dir), exclude=list(BYTECODE), ignore_mode=IgnoreMode.GLOB
                ),
                layers=context.packaging.function_layers(spec),
                snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_start else None,
                **common,
            )
            acknowledge(
                self.function,
                "AwsSolutions-L1",
                f"python{PYTHON_VERSION} on purpose: the zip functions, their layers' wheels and the ML image "
                f"(public.ecr.aws/lambda/python:{PYTHON_VERSION}) run one Python, upgraded together.",
            )
        # A SnapStart function is invoked through an alias on its published version: SnapStart applies
        # to published versions only, and the alias is what the API integrates with.
        self.alias: lambda_.Alias | None = None
        if spec.snap_start:
            Annotations.of(self.function).acknowledge_warning(
                "@aws-cdk/aws-lambda:snapStartRequirePublish",
                "The function is published (current_version) and invoked through the alias below.",
            )
            self.alias = lambda_.Alias(
                self,
                "Alias",
                alias_name=LIVE_ALIAS,
                version=self.function.current_version,
                provisioned_concurrent_executions=stage.provisioned_concurrency or None,
            )
        # The explicit log group replaces the managed AWSLambdaBasicExecutionRole policy.
        self.log_group.grant_write(self.role)
        for variable, value in spec.env.items():
            if isinstance(value, Ref) and value.kind not in HANDED_ON_KINDS:
                if variable in spec.read_only:
                    resources.grant_read(value, self.function)
                else:
                    resources.grant(value, self.function)
        for permission in spec.permissions:
            resources.grant_permission(permission.for_stage(stage.name), self.role)
        resources.functions[spec.name] = self.function

    @staticmethod
    def _variable(value: Ref | Staged | str, stage: StageConfig, resources: StackResources) -> str:
        if isinstance(value, Ref):
            return resources.resolve(value)
        if isinstance(value, Staged):
            return value.for_stage(stage.name)
        return value
