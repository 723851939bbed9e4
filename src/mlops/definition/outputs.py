"""Stack output names: the CDK stack exports these, the embedded stack publishes the same, and the CLI
finds every resource through them (docs/deploy.md#stack-outputs). Pure constants, importable without CDK."""

from __future__ import annotations

from mlops.definition.description import FUNCTIONS, Ref

DEFAULT_STACK_NAME = "MlopsStack"

DATA_BUCKET = "DataBucketName"
ARTIFACT_BUCKET = "ArtifactBucketName"
CAPTURE_BUCKET = "CaptureBucketName"
METADATA_TABLE = "MetadataTableName"
STATE_MACHINE_ARN = "StateMachineArn"
BATCH_STATE_MACHINE_ARN = "BatchStateMachineArn"
ROLLOUT_STATE_MACHINE_ARN = "RolloutStateMachineArn"
API_URL = "ApiUrl"
API_KEY_ID = "ApiKeyId"
DELIVERY_STREAM = "DeliveryStreamName"
NOTIFICATION_TOPIC_ARN = "NotificationTopicArn"


def function_output(function_name: str) -> str:
    """The output holding a function's deployed name, e.g. ``TriggerFunctionName``."""
    return f"{function_name.capitalize()}FunctionName"


FUNCTION_OUTPUTS: dict[str, str] = {spec.name: function_output(spec.name) for spec in FUNCTIONS}


# The output each described resource is published under (the CDK stack emits exactly these).
RESOURCE_OUTPUTS: dict[Ref, str] = {
    Ref("bucket", "data"): DATA_BUCKET,
    Ref("bucket", "artifacts"): ARTIFACT_BUCKET,
    Ref("bucket", "capture"): CAPTURE_BUCKET,
    Ref("table", "metadata"): METADATA_TABLE,
    Ref("state_machine", "pipeline", "arn"): STATE_MACHINE_ARN,
    Ref("state_machine", "batch", "arn"): BATCH_STATE_MACHINE_ARN,
    Ref("state_machine", "rollout", "arn"): ROLLOUT_STATE_MACHINE_ARN,
    Ref("stream", "capture"): DELIVERY_STREAM,
    Ref("topic", "notifications", "arn"): NOTIFICATION_TOPIC_ARN,
}
