"""Serving: the inference function behind a REST API with an API key and usage plan, and the Firehose
stream that captures its traffic into the capture bucket under ``capture/<model>/<date>/``."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constants import API_THROTTLE_BURST, API_THROTTLE_RATE
from infra.constructs.function import SpecFunction
from infra.context import BuildContext
from infra.nag import acknowledge
from mlops.definition.description import API_FUNCTION, STREAMS, StreamSpec, functions_of
from mlops.local.firehose import delivery_stream_config
from mlops.serving.errors import GATEWAY_ERRORS

# The destination fields the embedded stack configures too (mlops.local.firehose): the partitioned
# prefixes (capture/<model>/<yyyy-MM-dd>/), buffering (at least 64 MiB, Firehose's floor with dynamic
# partitioning), and the processors (JSON-line deaggregation, the JQ query on ``model``, newline).
SHARED_DESTINATION_FIELDS = (
    "Prefix",
    "ErrorOutputPrefix",
    "BufferingHints",
    "CompressionFormat",
    "DynamicPartitioningConfiguration",
    "ProcessingConfiguration",
)


class Serving(Construct):
    def __init__(self, scope: Construct, construct_id: str, context: BuildContext) -> None:
        super().__init__(scope, construct_id)
        self._stage = context.stage
        self._resources = context.resources
        for stream in STREAMS:
            self._resources.streams[stream.name] = self._delivery_stream(stream)
        self.functions = {spec.name: SpecFunction(self, spec, context) for spec in functions_of("serving")}
        # The API proxies every route to one of them.
        self.inference = self.functions[API_FUNCTION]
        self.api = self._rest_api()

    def _delivery_stream(self, spec: StreamSpec) -> firehose.CfnDeliveryStream:
        bucket = self._resources.bucket(spec.bucket)
        key = self._resources.key
        role = iam.Role(
            self,
            f"{spec.name.capitalize()}StreamRole",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": Aws.ACCOUNT_ID}}
            ),
            description=f"Firehose delivery of the {spec.name} stream to its bucket",
        )
        bucket.grant_read_write(role)
        log_group = logs.LogGroup(
            self,
            f"{spec.name.capitalize()}StreamLogs",
            retention=self._stage.log_retention,
            encryption_key=key,
            removal_policy=self._stage.removal_policy,
        )
        log_stream = log_group.add_stream("S3Delivery")
        log_stream.apply_removal_policy(self._stage.removal_policy)
        log_group.grant_write(role)
        stream = firehose.CfnDeliveryStream(
            self,
            f"{spec.name.capitalize()}Stream",
            delivery_stream_name=self._stage.resource_name(spec.name),
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                key_type="AWS_OWNED_CMK"
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=bucket.bucket_arn,
                role_arn=role.role_arn,
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                        awskms_key_arn=key.key_arn
                    )
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=log_group.log_group_name,
                    log_stream_name=log_stream.log_stream_name,
                ),
            ),
        )
        shared = delivery_stream_config(spec, self._stage.resource_name, role_arn="")
        for field in SHARED_DESTINATION_FIELDS:
            value = shared["ExtendedS3DestinationConfiguration"][field]
            stream.add_property_override(f"ExtendedS3DestinationConfiguration.{field}", value)
        # The role's policy must exist before Firehose validates its access to the bucket.
        policy = role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            stream.node.add_dependency(policy)
        return stream

    def _rest_api(self) -> apigw.RestApi:
        access_logs = logs.LogGroup(
            self,
            "ApiAccessLogs",
            retention=self._stage.log_retention,
            encryption_key=self._resources.key,
            removal_policy=self._stage.removal_policy,
        )
        api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=self._stage.resource_name("api"),
            description="The inference API (docs/inference.md): every route proxies to the inference function.",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Every route needs the API key; its usage plan throttles each client (docs/deploy.md).
            default_method_options=apigw.MethodOptions(api_key_required=True),
            # Every path, the root included, goes to the function, which answers unknown routes with a
            # JSON 404 like its other errors.
            # The live alias: SnapStart's published version (and provisioned concurrency when the stage
            # has it). Model rollouts route inside the function and publish no function version.
            default_integration=apigw.LambdaIntegration(
                self.inference.alias or self.inference.function, allow_test_invoke=False
            ),
            # The account's CloudWatch role for API Gateway is a per-region singleton: the account stack
            # (infra/account.py) sets it once for every stage.
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name=self._stage.name,
                throttling_rate_limit=API_THROTTLE_RATE,
                throttling_burst_limit=API_THROTTLE_BURST,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        self.api_key = api.add_api_key("ApiKey", api_key_name=self._stage.resource_name("api-key"))
        plan = api.add_usage_plan(
            "UsagePlan",
            name=self._stage.resource_name("api"),
            throttle=apigw.ThrottleSettings(rate_limit=API_THROTTLE_RATE, burst_limit=API_THROTTLE_BURST),
            api_stages=[apigw.UsagePlanPerApiStage(api=api, stage=api.deployment_stage)],
        )
        plan.add_api_key(self.api_key)
        # The stack publishes the URL as ApiUrl (mlops.definition.outputs); drop CDK's duplicate output.
        api.node.try_remove_child("Endpoint")
        api.root.add_proxy(any_method=True)
        # The gateway's own errors in the routes' shape and codes (mlops.serving.errors.GATEWAY_ERRORS).
        for error in GATEWAY_ERRORS:
            api.add_gateway_response(
                f"Gateway{error.response_type}",
                type=apigw.ResponseType.of(error.response_type),
                status_code=None if error.status is None else str(error.status),
                templates={"application/json": error.body()},
            )
        acknowledge(
            api,
            "AwsSolutions-APIG2",
            "Bodies are validated by the inference function, which answers malformed input with a 4xx JSON "
            "error naming the problem (docs/inference.md#errors); a gateway model would duplicate the signature.",
        )
        acknowledge(
            api,
            "AwsSolutions-APIG3",
            "No WAF web ACL by default (a fixed monthly cost per ACL and rule); callers need the API key "
            "and the stage and usage plan are throttled. docs/deploy.md shows how to attach one.",
        )
        for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
            acknowledge(
                api,
                rule,
                "Clients authenticate with the stack's API key (x-api-key) under a throttled usage plan, "
                "which stock Open Inference Protocol clients can send (docs/deploy.md); the key's value "
                "never appears in the template. docs/deploy.md shows the one-line switch to IAM auth.",
            )
        return api
