"""Storage: the stack's encryption key, the description's buckets and tables, the access-log bucket,
and the queue that holds events asynchronous invocations failed on."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constants import StageConfig
from infra.nag import acknowledge
from mlops.definition.description import BUCKETS, TABLES, BucketSpec, TableSpec

ABORT_INCOMPLETE_UPLOADS = Duration.days(7)
FAILED_EVENTS_RETENTION = Duration.days(14)


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, stage: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self._stage = stage
        self.key = kms.Key(
            self,
            "Key",
            description=f"{stage.resource_name('key')}: data and capture buckets, topic, log groups",
            enable_key_rotation=True,
            removal_policy=stage.removal_policy,
        )
        # CloudWatch Logs encrypts the stack's log groups with the key, for log groups of this account.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                        )
                    }
                },
            )
        )
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # Server access logs can only be delivered to a bucket encrypted with S3-managed keys.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(stage.access_log_expiry_days))],
            removal_policy=stage.removal_policy,
            auto_delete_objects=stage.destroy_on_delete,
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This is the server access log bucket of the other buckets; logging it into itself would loop.",
        )
        self.buckets: dict[str, s3.Bucket] = {spec.name: self._bucket(spec) for spec in BUCKETS}
        self.tables: dict[str, dynamodb.Table] = {spec.name: self._table(spec) for spec in TABLES}
        self.failed_events = sqs.Queue(
            self,
            "FailedEvents",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=FAILED_EVENTS_RETENTION,
            removal_policy=stage.removal_policy,
        )
        acknowledge(
            self.failed_events,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter destination of the asynchronously invoked functions and "
            "the EventBridge targets; an alarm watches its depth.",
        )

    def _bucket(self, spec: BucketSpec) -> s3.Bucket:
        lifecycle = [s3.LifecycleRule(abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS)]
        if spec.expire_days is not None:
            lifecycle.append(s3.LifecycleRule(expiration=Duration.days(spec.expire_days)))
        return s3.Bucket(
            self,
            f"{spec.name.capitalize()}Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=spec.versioned,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{spec.name}/",
            lifecycle_rules=lifecycle,
            removal_policy=self._stage.removal_policy,
            auto_delete_objects=self._stage.destroy_on_delete,
        )

    def _table(self, spec: TableSpec) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            f"{spec.name.capitalize()}Table",
            partition_key=dynamodb.Attribute(name=spec.partition_key, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=spec.sort_key, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=spec.ttl_attribute,
            deletion_protection=not self._stage.destroy_on_delete,
            removal_policy=self._stage.removal_policy,
        )
        for index_name, partition_key, sort_key in spec.indexes:
            table.add_global_secondary_index(
                index_name=index_name,
                partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table
