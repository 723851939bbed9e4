"""The stack's resources in moto, created from the same description the CDK app deploys.

Physical names are ``mlops-<name>``; the stack outputs the CLI reads are published through a
CloudFormation stack in moto, exactly as the deployed stack publishes them.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops import aws
from mlops.definition import description as d
from mlops.definition import outputs as out

ACCOUNT = "123456789012"
REGION = "us-east-1"
PREFIX = "mlops"
# The embedded stack's stage: the names its functions create at run time (alarms, metric namespace,
# training jobs) carry it, like a deployed stage's.
LOCAL_STAGE = "local"
LOCAL_ROLE = f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-local-execution"

# Settings that differ in the embedded stack: no X-Ray daemon, metrics go to moto's CloudWatch by the
# functions that alarm on them, EMF lines would only clutter the console.
LOCAL_ENV = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "STAGE_NAME": LOCAL_STAGE,
    # One process serves and promotes: let a promotion or rollback show within a second, not 30.
    "ALIAS_TTL_SECONDS": "1",
    # Short canary bakes need the candidate's figures within a second, not ten.
    "VARIANT_METRICS_INTERVAL_SECONDS": "1",
}


def physical_name(name: str) -> str:
    return f"{PREFIX}-{name}"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{physical_name(name)}"


def resolve(ref: d.Ref) -> str:
    """A description reference as the embedded stack names it."""
    name = physical_name(ref.name)
    if ref.kind == "state_machine":
        if ref.attr == "executions":
            return f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{name}:*"
        return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}" if ref.attr == "arn" else name
    if ref.kind == "function":
        return function_arn(ref.name) if ref.attr == "arn" else name
    if ref.kind == "topic":
        return f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}" if ref.attr == "arn" else name
    if ref.kind == "role":
        return f"arn:aws:iam::{ACCOUNT}:role/{name}"
    if ref.kind == "image":
        return f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}:local"
    return name


def env_value(value: d.EnvValue) -> str:
    if isinstance(value, d.Ref):
        return resolve(value)
    if isinstance(value, d.Staged):
        return value.for_stage(LOCAL_STAGE)
    return value


def function_env(spec: d.FunctionSpec) -> dict[str, str]:
    env = {key: env_value(value) for key, value in spec.env.items()}
    return {**env, **LOCAL_ENV}


def process_env() -> dict[str, str]:
    """Every function's variables at once: in-process handlers share one environment.

    The description gives a variable the same value wherever it sets it (a test holds it to that),
    so the union is each function's own environment.
    """
    merged: dict[str, str] = {}
    for spec in d.FUNCTIONS:
        for key, value in function_env(spec).items():
            if merged.setdefault(key, value) != value:
                raise ValueError(f"{key} differs between functions; the embedded stack needs one value.")
    return merged


def state_machine_definition(spec: d.StateMachineSpec = d.PIPELINE) -> str:
    definition = d.state_machine_definition(spec)
    for key, ref in spec.substitutions.items():
        definition = definition.replace("${" + key + "}", resolve(ref))
    return definition


@dataclass(frozen=True)
class LocalStack:
    outputs: dict[str, str]
    deployed_functions: dict[str, str]

    @property
    def state_machine_arn(self) -> str:
        return self.outputs[out.STATE_MACHINE_ARN]


def stack_outputs(api_url: str = "") -> dict[str, str]:
    outputs = {
        out.DATA_BUCKET: physical_name(d.DATA_BUCKET.name),
        out.ARTIFACT_BUCKET: physical_name(d.ARTIFACT_BUCKET.name),
        out.CAPTURE_BUCKET: physical_name(d.CAPTURE_BUCKET.name),
        out.METADATA_TABLE: physical_name(d.METADATA_TABLE.name),
        out.STATE_MACHINE_ARN: resolve(d.Ref("state_machine", d.PIPELINE.name, "arn")),
        out.BATCH_STATE_MACHINE_ARN: resolve(d.Ref("state_machine", d.BATCH.name, "arn")),
        out.ROLLOUT_STATE_MACHINE_ARN: resolve(d.Ref("state_machine", d.ROLLOUT.name, "arn")),
        out.DELIVERY_STREAM: physical_name(d.CAPTURE_STREAM.name),
        out.NOTIFICATION_TOPIC_ARN: resolve(d.Ref("topic", "notifications", "arn")),
    }
    if api_url:
        outputs[out.API_URL] = api_url
    for spec in d.FUNCTIONS:
        outputs[out.function_output(spec.name)] = physical_name(spec.name)
    return outputs


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*.py")):
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def _create_buckets() -> None:
    s3 = aws.s3()
    for bucket in d.BUCKETS:
        name = physical_name(bucket.name)
        s3.create_bucket(Bucket=name)
        if bucket.versioned:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def table_definition(table: d.TableSpec, name: str) -> dict[str, Any]:
    """``create_table``'s arguments for a table of the stack description (keys and indexes)."""
    attributes = {table.partition_key, table.sort_key}
    gsis = []
    for index, pk, sk in table.indexes:
        attributes |= {pk, sk}
        gsis.append(
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": pk, "KeyType": "HASH"},
                    {"AttributeName": sk, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        )
    kwargs: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
        "KeySchema": [
            {"AttributeName": table.partition_key, "KeyType": "HASH"},
            {"AttributeName": table.sort_key, "KeyType": "RANGE"},
        ],
    }
    if gsis:
        kwargs["GlobalSecondaryIndexes"] = gsis
    return kwargs


def create_table(table: d.TableSpec, name: str) -> None:
    """One table of the description, with its indexes and TTL, as ``name`` (tests and benches that
    need only the metadata table call this too, so the table has one shape everywhere)."""
    db = aws.dynamodb()
    db.create_table(**table_definition(table, name))
    if table.ttl_attribute:
        db.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
        )


def _create_tables() -> None:
    for table in d.TABLES:
        create_table(table, physical_name(table.name))


def _create_role() -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {
                    "Service": ["lambda.amazonaws.com", "states.amazonaws.com", "firehose.amazonaws.com"]
                },
                "Action": "sts:AssumeRole",
            }
        ],
    }
    aws.client("iam").create_role(
        RoleName=LOCAL_ROLE.rsplit("/", 1)[1], AssumeRolePolicyDocument=json.dumps(trust)
    )


def _create_functions(root: Path) -> None:
    client = aws.lambda_()
    for spec in d.FUNCTIONS:
        client.create_function(
            FunctionName=physical_name(spec.name),
            Runtime="python3.12",
            Role=LOCAL_ROLE,
            Handler=spec.handler,
            Code={"ZipFile": _zip_folder(root / spec.code_dir)},
            Description=spec.description[:256],
            Timeout=spec.timeout_s,
            MemorySize=spec.memory_mb,
            Environment={"Variables": function_env(spec)},
        )


def _create_state_machines() -> None:
    sfn = aws.stepfunctions()
    for spec in d.STATE_MACHINES:
        sfn.create_state_machine(
            name=physical_name(spec.name), definition=state_machine_definition(spec), roleArn=LOCAL_ROLE
        )


def _create_notifications() -> None:
    s3 = aws.client("s3")
    by_bucket: dict[str, list[dict[str, Any]]] = {}
    for note in d.S3_NOTIFICATIONS:
        by_bucket.setdefault(note.bucket, []).append(
            {
                "Id": f"{note.function}-{note.prefix.strip('/')}",
                "LambdaFunctionArn": function_arn(note.function),
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": note.prefix}]}},
            }
        )
    for bucket, configs in by_bucket.items():
        s3.put_bucket_notification_configuration(
            Bucket=physical_name(bucket), NotificationConfiguration={"LambdaFunctionConfigurations": configs}
        )


def _create_streams() -> None:
    from mlops.local.firehose import delivery_stream_config

    firehose = aws.client("firehose")
    for stream in d.STREAMS:
        firehose.create_delivery_stream(**delivery_stream_config(stream, physical_name, LOCAL_ROLE))


def _create_rules() -> None:
    events = aws.client("events")
    for schedule in d.SCHEDULES:
        name = physical_name(schedule.name)
        events.put_rule(Name=name, ScheduleExpression=schedule.expression, State="ENABLED")
        events.put_targets(
            Rule=name,
            Targets=[
                {
                    "Id": schedule.function,
                    "Arn": function_arn(schedule.function),
                    "Input": json.dumps(schedule.payload),
                }
            ],
        )
    for rule in d.ALARM_RULES:
        name = physical_name(rule.name)
        pattern = {
            "source": ["aws.cloudwatch"],
            "detail-type": ["CloudWatch Alarm State Change"],
            "detail": {
                "alarmName": [{"prefix": rule.alarm_name_prefix.for_stage(LOCAL_STAGE)}],
                "state": {"value": [rule.state]},
            },
        }
        events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=name, Targets=[{"Id": rule.function, "Arn": function_arn(rule.function)}])
    for execution_rule in d.EXECUTION_RULES:
        name = physical_name(execution_rule.name)
        pattern = {
            "source": ["aws.states"],
            "detail-type": ["Step Functions Execution Status Change"],
            "detail": {
                "stateMachineArn": [resolve(d.Ref("state_machine", execution_rule.state_machine, "arn"))],
                "status": list(execution_rule.statuses),
            },
        }
        events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(
            Rule=name, Targets=[{"Id": execution_rule.function, "Arn": function_arn(execution_rule.function)}]
        )


def _publish_outputs(outputs: dict[str, str]) -> None:
    template = {
        "Resources": {
            "NotificationTopic": {
                "Type": "AWS::SNS::Topic",
                "Properties": {"TopicName": physical_name("notifications")},
            }
        },
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    aws.client("cloudformation").create_stack(
        StackName=out.DEFAULT_STACK_NAME, TemplateBody=json.dumps(template)
    )


def create_stack(
    api_url: str = "",
    root: Path | None = None,
    before_wiring: Callable[[], object] | None = None,
    wire: bool = True,
) -> LocalStack:
    """Create every resource of the description in the moto the clients point at.

    ``before_wiring`` runs once buckets and tables exist and before any notification or rule does
    (restoring a saved state there starts nothing). ``wire=False`` leaves out the S3 notification
    and the EventBridge rules, for tests that deliver events to one function by hand.
    """
    _create_buckets()
    _create_tables()
    if before_wiring is not None:
        before_wiring()
    _create_role()
    _create_functions(root or d.project_root())
    _create_state_machines()
    _create_streams()
    if wire:
        _create_notifications()
        _create_rules()
    outputs = stack_outputs(api_url)
    _publish_outputs(outputs)
    return LocalStack(
        outputs=outputs, deployed_functions={s.name: physical_name(s.name) for s in d.FUNCTIONS}
    )
