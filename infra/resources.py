"""The stack's resources by their description names: how a construct resolves a ``Ref`` and grants access.

Constructs register what they build here and look up what they need, so a function's environment,
its IAM grants and the state machine's substitutions all come from the same ``Ref`` objects the
description holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from aws_cdk import Aws, Fn
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn

from mlops.definition.description import Permission, Ref

# References that are handed on to another service rather than used by the function itself: the
# training function passes the SageMaker role (an explicit iam:PassRole permission) and the image URI.
HANDED_ON_KINDS = frozenset({"role", "image"})

FIREHOSE_PUT_ACTIONS = ("firehose:PutRecord", "firehose:PutRecordBatch")

T = TypeVar("T")


class UnresolvedReference(LookupError):
    """A Ref to a resource the stack has not built (yet): a construction-order or description error."""


@dataclass
class StackResources:
    key: kms.IKey
    buckets: dict[str, s3.IBucket] = field(default_factory=dict)
    tables: dict[str, dynamodb.ITable] = field(default_factory=dict)
    streams: dict[str, firehose.CfnDeliveryStream] = field(default_factory=dict)
    state_machines: dict[str, sfn.StateMachine] = field(default_factory=dict)
    functions: dict[str, lambda_.IFunction] = field(default_factory=dict)
    roles: dict[str, iam.IRole] = field(default_factory=dict)
    images: dict[str, ecr_assets.DockerImageAsset] = field(default_factory=dict)
    topics: dict[str, sns.ITopic] = field(default_factory=dict)

    def resolve(self, ref: Ref) -> str:
        """The name, ARN or URI a Ref stands for, as a CloudFormation token."""
        if ref.kind == "image":
            return self.image(ref.name).image_uri
        if ref.kind == "state_machine" and ref.attr == "executions":
            return Fn.join(
                "",
                [
                    f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:execution:",
                    self.state_machine(ref.name).state_machine_name,
                    ":*",
                ],
            )
        arn, name = self._arn_and_name(ref)
        return arn if ref.attr == "arn" else name

    def _arn_and_name(self, ref: Ref) -> tuple[str, str]:
        if ref.kind == "bucket":
            bucket = self.bucket(ref.name)
            return bucket.bucket_arn, bucket.bucket_name
        if ref.kind == "table":
            table = self.table(ref.name)
            return table.table_arn, table.table_name
        if ref.kind == "stream":
            stream = _lookup(self.streams, ref.kind, ref.name)
            return stream.attr_arn, stream.ref
        if ref.kind == "state_machine":
            machine = self.state_machine(ref.name)
            return machine.state_machine_arn, machine.state_machine_name
        if ref.kind == "function":
            function = self.function(ref.name)
            return function.function_arn, function.function_name
        if ref.kind == "role":
            role = _lookup(self.roles, ref.kind, ref.name)
            return role.role_arn, role.role_name
        if ref.kind == "topic":
            topic = self.topic(ref.name)
            return topic.topic_arn, topic.topic_name
        raise UnresolvedReference(f"The stack cannot resolve {ref!r}.")

    def grant(self, ref: Ref, grantee: iam.IGrantable) -> None:
        """Read and write access to exactly the resource a Ref names (pull access for an image)."""
        if ref.kind == "bucket":
            self.bucket(ref.name).grant_read_write(grantee)
        elif ref.kind == "table":
            self.table(ref.name).grant_read_write_data(grantee)
        elif ref.kind == "state_machine":
            self.state_machine(ref.name).grant_start_execution(grantee)
        elif ref.kind == "stream":
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=list(FIREHOSE_PUT_ACTIONS),
                resource_arns=[self.resolve(Ref("stream", ref.name, "arn"))],
            )
        elif ref.kind == "function":
            self.function(ref.name).grant_invoke(grantee)
        elif ref.kind == "topic":
            self.topic(ref.name).grant_publish(grantee)
        elif ref.kind == "image":
            self.image(ref.name).repository.grant_pull(grantee)
        else:
            raise UnresolvedReference(f"The stack grants no access to {ref.kind} references ({ref!r}).")

    def grant_read(self, ref: Ref, grantee: iam.IGrantable) -> None:
        """Read access only to the resource a Ref names (a bucket: get and list, with its key)."""
        if ref.kind != "bucket":
            raise UnresolvedReference(f"The stack grants read-only access to buckets only ({ref!r}).")
        self.bucket(ref.name).grant_read(grantee)

    def grant_permission(self, permission: Permission, role: iam.IRole) -> None:
        """Add a described permission to a role; on a bucket, with the bucket's key to read and write."""
        role.add_to_principal_policy(self.permission_statement(permission))
        resource = permission.resource
        if isinstance(resource, Ref) and resource.kind == "bucket":
            key = self.bucket(resource.name).encryption_key
            if key is not None:
                key.grant_encrypt_decrypt(role)

    def permission_statement(self, permission: Permission) -> iam.PolicyStatement:
        resource = permission.resource
        if isinstance(resource, Ref):
            arn = self.resolve(resource)
            if permission.path:
                arn = Fn.join("", [arn, permission.path])
        elif "${" in resource:
            arn = Fn.sub(resource)
        else:
            arn = resource
        return iam.PolicyStatement(
            actions=list(permission.actions),
            resources=[arn],
            conditions=dict(permission.condition) or None,
        )

    # Typed lookups -----------------------------------------------------------------------------

    def bucket(self, name: str) -> s3.IBucket:
        return _lookup(self.buckets, "bucket", name)

    def table(self, name: str) -> dynamodb.ITable:
        return _lookup(self.tables, "table", name)

    def state_machine(self, name: str) -> sfn.StateMachine:
        return _lookup(self.state_machines, "state_machine", name)

    def function(self, name: str) -> lambda_.IFunction:
        return _lookup(self.functions, "function", name)

    def topic(self, name: str) -> sns.ITopic:
        return _lookup(self.topics, "topic", name)

    def image(self, name: str) -> ecr_assets.DockerImageAsset:
        return _lookup(self.images, "image", name)


def _lookup(registry: dict[str, T], kind: str, name: str) -> T:
    if name not in registry:
        raise UnresolvedReference(
            f"Nothing built yet for {kind} {name!r}: build it before what references it, "
            "or add it to the stack description."
        )
    return registry[name]
