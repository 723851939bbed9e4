"""The synthesized stack against the stack description: parity, wiring, IAM scope, security, cdk-nag,
cfn-lint. One synthesis for the whole module (``synthesized`` in conftest.py)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file

from infra.constants import ACCOUNT_STACK_NAME, FUNCTION_OPTIONS, LIVE_ALIAS
from infra.constructs.function import STAGE_VARIABLE, asynchronously_invoked, environment_refs
from infra.constructs.packaging import PYTHON_VERSION
from infra.nag import REVIEWED_WILDCARDS, wildcard_findings
from infra.resources import HANDED_ON_KINDS
from mlops.definition import outputs
from mlops.definition.description import (
    ALARM_RULES,
    BUCKETS,
    CONSTRUCTS,
    EXECUTION_RULES,
    FUNCTIONS,
    S3_NOTIFICATIONS,
    SCHEDULES,
    STATE_MACHINES,
    STREAMS,
    TABLES,
    FunctionSpec,
    Ref,
    Staged,
    functions_of,
    project_root,
    state_machine_definition,
)
from mlops.labels import DEPRECATED_LABELS_PREFIX, LABELS_PREFIX
from mlops.local.firehose import PARTITIONED_SUFFIX, processors
from mlops.serving.errors import GATEWAY_ERRORS, PayloadTooLarge, gateway_error

from .conftest import Synthesized

pytestmark = pytest.mark.slow

CFN_TYPE_OF_KIND = {
    "bucket": "AWS::S3::Bucket",
    "table": "AWS::DynamoDB::Table",
    "stream": "AWS::KinesisFirehose::DeliveryStream",
    "state_machine": "AWS::StepFunctions::StateMachine",
    "function": "AWS::Lambda::Function",
    "role": "AWS::IAM::Role",
    "topic": "AWS::SNS::Topic",
}
# Actions without resource-level permissions; only these may name Resource "*".
ANY_RESOURCE_ACTIONS = {
    "cloudwatch:GetMetricStatistics",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "ecr:GetAuthorizationToken",
}
NAMESPACED_ACTIONS = {"cloudwatch:PutMetricData"}


# ---- helpers -----------------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def referenced_ids(value: Any) -> set[str]:
    """Logical IDs a CloudFormation value refers to (Ref, Fn::GetAtt), pseudo parameters left out."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and not str(value["Ref"]).startswith("AWS::"):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        for item in value.values():
            found |= referenced_ids(item)
    elif isinstance(value, list):
        for item in value:
            found |= referenced_ids(item)
    return found


def single_reference(value: Any) -> str:
    ids = referenced_ids(value)
    assert len(ids) == 1, f"expected one reference in {value}"
    return ids.pop()


def function_id(synthesized: Synthesized, name: str) -> str:
    return synthesized.logical_id(synthesized.stack.resources.function(name))


def function_props(synthesized: Synthesized, name: str) -> dict[str, Any]:
    props: dict[str, Any] = synthesized.resources[function_id(synthesized, name)]["Properties"]
    return props


def ref_id(synthesized: Synthesized, ref: Ref) -> str:
    """The logical ID of the resource a description Ref names, found through the stack's constructs."""
    resources = synthesized.stack.resources
    registry: Any = {
        "bucket": resources.buckets,
        "table": resources.tables,
        "stream": resources.streams,
        "state_machine": resources.state_machines,
        "function": resources.functions,
        "role": resources.roles,
        "topic": resources.topics,
    }[ref.kind]
    return synthesized.logical_id(registry[ref.name])


def role_statements(synthesized: Synthesized, role_id: str) -> list[dict[str, Any]]:
    role = synthesized.resources[role_id]["Properties"]
    statements = [
        statement
        for policy in role.get("Policies", [])
        for statement in as_list(policy["PolicyDocument"]["Statement"])
    ]
    for policy in synthesized.of_type("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []):
            statements += as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def all_policy_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in synthesized.of_type("AWS::IAM::Policy").values():
        statements += as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    for role in synthesized.of_type("AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            statements += as_list(policy["PolicyDocument"]["Statement"])
    return statements


# ---- parity with the description --------------------------------------------------------------


def test_validation_has_room_in_tmp_for_the_largest_parquet_copy() -> None:
    # It streams the canonical Parquet through /tmp; a retrain revalidates what the processing job ingested.
    validation = next(spec for spec in FUNCTIONS if spec.name == "validation")
    assert validation.ephemeral_storage_mb == 10240


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.name)
def test_every_described_function_is_deployed_as_described(
    synthesized: Synthesized, spec: FunctionSpec
) -> None:
    props = function_props(synthesized, spec.name)
    assert props["FunctionName"] == synthesized.stack.stage.resource_name(spec.name)
    assert props["MemorySize"] == synthesized.stack.stage.function_memory_mb(spec)
    assert props["Timeout"] == spec.timeout_s
    assert props["EphemeralStorage"] == {"Size": spec.ephemeral_storage_mb}
    assert props.get("ReservedConcurrentExecutions") == synthesized.stack.stage.function_reserved_concurrency(
        spec
    )
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Architectures"] == ["x86_64"]
    if spec.packaging == "image":
        assert props["PackageType"] == "Image"
        assert props["ImageConfig"]["Command"] == [f"functions.{spec.name}.{spec.handler}"]
        assert "Layers" not in props
    else:
        assert props["Handler"] == spec.handler
        assert props["Runtime"] == f"python{PYTHON_VERSION}"
        layer_ids = [single_reference(layer) for layer in props["Layers"]]
        layers = synthesized.stack.packaging.layers
        # CDK lists layers sorted (its recognizeLayerVersion flag); no two layers ship the same file.
        assert sorted(layer_ids) == sorted(synthesized.logical_id(layers[name]) for name in spec.layers)

    variables = props["Environment"]["Variables"]
    assert set(variables) == {*spec.env, STAGE_VARIABLE}
    assert variables[STAGE_VARIABLE] == synthesized.stack.stage.name
    for key, value in spec.env.items():
        if isinstance(value, Ref):
            if value.kind == "image":
                image = synthesized.stack.packaging.image
                assert variables[key] == synthesized.stack.resolve(image.image_uri)
                continue
            target = single_reference(variables[key])
            assert target == ref_id(synthesized, value), key
            assert synthesized.resources[target]["Type"] == CFN_TYPE_OF_KIND[value.kind], key
        elif isinstance(value, Staged):
            assert variables[key] == value.for_stage(synthesized.stack.stage.name), key
        else:
            assert variables[key] == value, key


def test_each_construct_builds_the_functions_that_name_it(synthesized: Synthesized) -> None:
    for construct in CONSTRUCTS:
        built = getattr(synthesized.stack, construct).functions
        assert set(built) == {spec.name for spec in functions_of(construct)}, construct
        for function in built.values():
            path = function.function.node.path
            assert path.startswith(f"{synthesized.stack.node.path}/{construct.capitalize()}/"), path


def test_the_state_machine_runs_the_description_asl_file(synthesized: Synthesized) -> None:
    for spec in STATE_MACHINES:
        machine = synthesized.resources[ref_id(synthesized, Ref("state_machine", spec.name, "arn"))]
        props = machine["Properties"]
        text = state_machine_definition(spec)
        assert props["DefinitionString"] == text
        placeholders = set(re.findall(r"\$\{(\w+)\}", text))
        assert placeholders == set(spec.substitutions)
        for key, ref in spec.substitutions.items():
            target = ref_id(synthesized, ref)
            expected = {"Fn::GetAtt": [target, "Arn"]} if ref.attr == "arn" else {"Ref": target}
            assert props["DefinitionSubstitutions"][key] == expected
        substituted = text
        for key in placeholders:
            substituted = substituted.replace("${" + key + "}", f"arn:{key}")
        assert json.loads(substituted)["StartAt"] in json.loads(text)["States"]


def test_outputs_are_the_names_the_cli_reads(synthesized: Synthesized) -> None:
    expected = {
        *outputs.RESOURCE_OUTPUTS.values(),
        outputs.API_URL,
        outputs.API_KEY_ID,
        *(outputs.function_output(spec.name) for spec in FUNCTIONS),
    }
    assert set(synthesized.template["Outputs"]) == expected
    described = [
        *(Ref("bucket", spec.name) for spec in BUCKETS),
        *(Ref("table", spec.name) for spec in TABLES),
        *(Ref("stream", spec.name) for spec in STREAMS),
        *(Ref("state_machine", spec.name, "arn") for spec in STATE_MACHINES),
    ]
    for ref in described:
        value = synthesized.template["Outputs"][outputs.RESOURCE_OUTPUTS[ref]]["Value"]
        assert single_reference(value) == ref_id(synthesized, ref)


# ---- wiring ------------------------------------------------------------------------------------


def test_uploads_under_the_prefix_invoke_ingest(synthesized: Synthesized) -> None:
    configs = synthesized.of_type("Custom::S3BucketNotifications").values()
    for notification in S3_NOTIFICATIONS:
        bucket_id = ref_id(synthesized, Ref("bucket", notification.bucket))
        (config,) = [c["Properties"] for c in configs if c["Properties"]["BucketName"] == {"Ref": bucket_id}]
        (target,) = [
            t
            for t in config["NotificationConfiguration"]["LambdaFunctionConfigurations"]
            if t["Filter"]["Key"]["FilterRules"][0]["Value"] == notification.prefix
        ]
        assert target["Events"] == ["s3:ObjectCreated:*"]
        assert target["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": notification.prefix}]
        assert target["LambdaFunctionArn"] == {
            "Fn::GetAtt": [function_id(synthesized, notification.function), "Arn"]
        }


def rules_targeting(synthesized: Synthesized, function: str) -> list[dict[str, Any]]:
    arn = {"Fn::GetAtt": [function_id(synthesized, function), "Arn"]}
    return [
        rule["Properties"]
        for rule in synthesized.of_type("AWS::Events::Rule").values()
        if any(target["Arn"] == arn for target in rule["Properties"]["Targets"])
    ]


def test_schedules_invoke_their_functions_with_their_payload(synthesized: Synthesized) -> None:
    queue_id = synthesized.logical_id(synthesized.stack.storage.failed_events)
    for schedule in SCHEDULES:
        (rule,) = [
            r
            for r in rules_targeting(synthesized, schedule.function)
            if r.get("ScheduleExpression") == schedule.expression
        ]
        (target,) = rule["Targets"]
        assert json.loads(target["Input"]) == schedule.payload
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}


def test_drift_alarms_entering_alarm_invoke_the_trigger(synthesized: Synthesized) -> None:
    for alarm_rule in ALARM_RULES:
        (rule,) = [r for r in rules_targeting(synthesized, alarm_rule.function) if "EventPattern" in r]
        assert rule["EventPattern"] == {
            "source": ["aws.cloudwatch"],
            "detail-type": ["CloudWatch Alarm State Change"],
            "detail": {
                "alarmName": [
                    {"prefix": alarm_rule.alarm_name_prefix.for_stage(synthesized.stack.stage.name)}
                ],
                "state": {"value": [alarm_rule.state]},
            },
        }


def test_pipeline_executions_ending_unrecorded_invoke_reconcile(synthesized: Synthesized) -> None:
    """Stopped, timed-out and failed executions reach the function that ends their runs ABORTED."""
    for execution_rule in EXECUTION_RULES:
        (rule,) = [r for r in rules_targeting(synthesized, execution_rule.function) if "EventPattern" in r]
        machine = ref_id(synthesized, Ref("state_machine", execution_rule.state_machine))
        pattern = rule["EventPattern"]
        assert pattern["source"] == ["aws.states"]
        assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
        assert pattern["detail"]["status"] == ["FAILED", "TIMED_OUT", "ABORTED"]
        (arn,) = pattern["detail"]["stateMachineArn"]
        assert referenced_ids(arn) == {machine}
    role_id = single_reference(function_props(synthesized, "reconcile")["Role"])
    (describe,) = [
        s
        for s in role_statements(synthesized, role_id)
        if "states:DescribeExecution" in json.dumps(s["Action"])
    ]
    assert ":execution:" in json.dumps(describe["Resource"])


def test_asynchronously_invoked_functions_send_failed_events_to_the_queue(synthesized: Synthesized) -> None:
    queue_arn = {"Fn::GetAtt": [synthesized.logical_id(synthesized.stack.storage.failed_events), "Arn"]}
    configs = {
        single_reference(c["Properties"]["FunctionName"]): c["Properties"]
        for c in synthesized.of_type("AWS::Lambda::EventInvokeConfig").values()
    }
    assert asynchronously_invoked() == {"ingest", "trigger", "drift", "reconcile", "batchtrigger", "rollout"}
    for name in asynchronously_invoked():
        config = configs[function_id(synthesized, name)]
        assert config["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn


def test_captured_traffic_is_partitioned_as_in_the_embedded_stack(synthesized: Synthesized) -> None:
    for spec in STREAMS:
        stream = synthesized.resources[ref_id(synthesized, Ref("stream", spec.name))]["Properties"]
        destination = stream["ExtendedS3DestinationConfiguration"]
        assert destination["Prefix"] == spec.prefix + PARTITIONED_SUFFIX
        assert destination["Prefix"] == "capture/!{partitionKeyFromQuery:model}/!{timestamp:yyyy-MM-dd}/"
        assert destination["ErrorOutputPrefix"].startswith(spec.error_prefix)
        assert destination["DynamicPartitioningConfiguration"]["Enabled"] is True
        assert destination["ProcessingConfiguration"] == {"Enabled": True, "Processors": processors()}
        assert destination["BufferingHints"]["IntervalInSeconds"] == spec.buffer_seconds
        assert single_reference(destination["BucketARN"]) == ref_id(synthesized, Ref("bucket", spec.bucket))
        assert single_reference(destination["EncryptionConfiguration"]) == synthesized.logical_id(
            synthesized.stack.storage.key
        )
        assert stream["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}


def test_every_api_route_needs_the_key_and_proxies_to_the_inference_function(
    synthesized: Synthesized,
) -> None:
    methods = [m["Properties"] for m in synthesized.of_type("AWS::ApiGateway::Method").values()]
    assert len(methods) == 2  # ANY on / and on /{proxy+}
    resources = [r["Properties"] for r in synthesized.of_type("AWS::ApiGateway::Resource").values()]
    assert [r["PathPart"] for r in resources] == ["{proxy+}"]
    alias = live_alias_id(synthesized)
    for method in methods:
        assert method["HttpMethod"] == "ANY"
        assert method["ApiKeyRequired"] is True
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert referenced_ids(method["Integration"]["Uri"]) == {alias}
    (stage_id, stage) = next(iter(synthesized.of_type("AWS::ApiGateway::Stage").items()))
    assert stage["Properties"]["StageName"] == synthesized.stack.stage.name
    assert stage["Properties"]["TracingEnabled"] is True
    assert "AccessLogSetting" in stage["Properties"]
    (method_settings,) = stage["Properties"]["MethodSettings"]
    assert method_settings["ThrottlingRateLimit"] > 0
    assert method_settings["DataTraceEnabled"] is False
    (plan,) = [p["Properties"] for p in synthesized.of_type("AWS::ApiGateway::UsagePlan").values()]
    assert plan["Throttle"]["RateLimit"] > 0
    assert plan["ApiStages"][0]["Stage"] == {"Ref": stage_id}
    (key_id,) = synthesized.of_type("AWS::ApiGateway::ApiKey")
    (link,) = [k["Properties"] for k in synthesized.of_type("AWS::ApiGateway::UsagePlanKey").values()]
    assert link["KeyId"] == {"Ref": key_id}
    assert "Value" not in synthesized.resources[key_id]["Properties"]  # generated, never in the template


def test_gateway_errors_answer_in_the_routes_schema_and_codes(synthesized: Synthesized) -> None:
    """Too large, no or a bad key, throttled, timed out: the gateway says it with the function's codes."""
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synthesized.of_type("AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == {e.response_type for e in GATEWAY_ERRORS}
    for error in GATEWAY_ERRORS:
        response = responses[error.response_type]
        assert response.get("StatusCode") == (None if error.status is None else str(error.status))
        document = json.loads(response["ResponseTemplates"]["application/json"])
        assert document == {"error": {"code": error.code, "message": error.message}}
    assert gateway_error("REQUEST_TOO_LARGE").code == PayloadTooLarge.code == "payload_too_large"


def live_alias_id(synthesized: Synthesized) -> str:
    """The inference function's alias, which must point at a published version of the function."""
    inference = function_id(synthesized, "inference")
    (alias_id, alias) = next(iter(synthesized.of_type("AWS::Lambda::Alias").items()))
    assert alias["Properties"]["Name"] == LIVE_ALIAS
    assert referenced_ids(alias["Properties"]["FunctionName"]) == {inference}
    version_id = single_reference(alias["Properties"]["FunctionVersion"])
    version = synthesized.resources[version_id]
    assert version["Type"] == "AWS::Lambda::Version"
    assert referenced_ids(version["Properties"]["FunctionName"]) == {inference}
    return alias_id


def test_the_inference_function_runs_snapstart_on_its_published_version(synthesized: Synthesized) -> None:
    inference = synthesized.resources[function_id(synthesized, "inference")]["Properties"]
    assert inference["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    alias = synthesized.resources[live_alias_id(synthesized)]["Properties"]
    assert "ProvisionedConcurrencyConfig" not in alias  # off by default: it costs while idle
    others = [
        props
        for lid, props in (
            (lid, r["Properties"]) for lid, r in synthesized.of_type("AWS::Lambda::Function").items()
        )
        if lid != function_id(synthesized, "inference")
    ]
    assert all("SnapStart" not in props for props in others)


def test_alarms_cover_pipeline_failures_inference_errors_and_latency(synthesized: Synthesized) -> None:
    topic = synthesized.logical_id(synthesized.stack.monitoring.topic)
    alarms = [a["Properties"] for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()]
    watched = {(a["Namespace"], a["MetricName"]) for a in alarms}
    assert {
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
        ("AWS/Lambda", "Errors"),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    } <= watched
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": topic}]
        assert not alarm["AlarmName"].startswith(ALARM_RULES[0].alarm_name_prefix.for_stage("dev"))


# ---- IAM ---------------------------------------------------------------------------------------


def test_no_policy_allows_any_action_or_unscoped_resources(synthesized: Synthesized) -> None:
    for statement in all_policy_statements(synthesized):
        actions = as_list(statement["Action"])
        assert "*" not in actions, statement
        if "*" in as_list(statement.get("Resource", [])):
            for action in actions:
                assert not action.endswith(":*"), statement
                if action in NAMESPACED_ACTIONS:
                    assert "cloudwatch:namespace" in statement["Condition"]["StringEquals"], statement
                else:
                    assert action in ANY_RESOURCE_ACTIONS, statement


def test_no_role_uses_managed_policies_but_cdk_internal_ones(synthesized: Synthesized) -> None:
    for role_id, role in synthesized.of_type("AWS::IAM::Role").items():
        if role["Properties"].get("ManagedPolicyArns"):
            assert role_id.startswith(("BucketNotificationsHandler", "CustomS3AutoDelete"))


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.name)
def test_each_function_role_reaches_exactly_what_its_environment_names(
    synthesized: Synthesized, spec: FunctionSpec
) -> None:
    props = function_props(synthesized, spec.name)
    role_id = single_reference(props["Role"])
    reached: set[str] = set()
    for statement in role_statements(synthesized, role_id):
        reached |= referenced_ids(statement.get("Resource", []))

    named = [ref for ref in environment_refs(spec) if ref.kind not in HANDED_ON_KINDS]
    expected = {ref_id(synthesized, ref) for ref in named}
    expected.add(single_reference(props["LoggingConfig"]["LogGroup"]))
    if any(ref.kind == "bucket" for ref in named):
        expected.add(synthesized.logical_id(synthesized.stack.storage.key))
    if spec.name in asynchronously_invoked():
        expected.add(synthesized.logical_id(synthesized.stack.storage.failed_events))
    for permission in spec.permissions:
        if isinstance(permission.resource, Ref):
            expected.add(ref_id(synthesized, permission.resource))
    assert reached == expected


def test_training_may_pass_only_the_sagemaker_role_and_only_to_sagemaker(synthesized: Synthesized) -> None:
    role_id = single_reference(function_props(synthesized, "training")["Role"])
    (pass_role,) = [
        s for s in role_statements(synthesized, role_id) if "iam:PassRole" in as_list(s["Action"])
    ]
    assert single_reference(pass_role["Resource"]) == ref_id(synthesized, Ref("role", "sagemaker", "arn"))
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


# ---- security properties -----------------------------------------------------------------------


def test_buckets_are_private_encrypted_tls_only_and_logged(synthesized: Synthesized) -> None:
    key_id = synthesized.logical_id(synthesized.stack.storage.key)
    access_logs_id = synthesized.logical_id(synthesized.stack.storage.access_logs)
    policies = {
        single_reference(p["Properties"]["Bucket"]): p["Properties"]["PolicyDocument"]["Statement"]
        for p in synthesized.of_type("AWS::S3::BucketPolicy").values()
    }
    for bucket_id, bucket in synthesized.of_type("AWS::S3::Bucket").items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        denies_plain_http = [
            s
            for s in policies[bucket_id]
            if s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool") == {"aws:SecureTransport": "false"}
        ]
        assert denies_plain_http, bucket_id
        assert bucket["DeletionPolicy"] == "Delete"  # dev stage
    for spec in BUCKETS:
        props = synthesized.resources[ref_id(synthesized, Ref("bucket", spec.name))]["Properties"]
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert single_reference(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]) == key_id
        assert ("VersioningConfiguration" in props) == spec.versioned
        assert single_reference(props["LoggingConfiguration"]["DestinationBucketName"]) == access_logs_id


def test_table_has_point_in_time_recovery_encryption_ttl_and_indexes(synthesized: Synthesized) -> None:
    for spec in TABLES:
        props = synthesized.resources[ref_id(synthesized, Ref("table", spec.name))]["Properties"]
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
        assert [index["IndexName"] for index in props["GlobalSecondaryIndexes"]] == [
            i[0] for i in spec.indexes
        ]


def test_logs_are_encrypted_and_expire_and_the_state_machine_logs_everything(
    synthesized: Synthesized,
) -> None:
    key_id = synthesized.logical_id(synthesized.stack.storage.key)
    for log_group in synthesized.of_type("AWS::Logs::LogGroup").values():
        assert log_group["Properties"]["RetentionInDays"] == 30  # dev stage
        assert single_reference(log_group["Properties"]["KmsKeyId"]) == key_id
    for machine in synthesized.of_type("AWS::StepFunctions::StateMachine").values():
        assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ALL"
        assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}


def test_key_topic_and_queue_are_encrypted(synthesized: Synthesized) -> None:
    (key,) = synthesized.of_type("AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    for topic in synthesized.of_type("AWS::SNS::Topic").values():
        assert "KmsMasterKeyId" in topic["Properties"]
    for queue in synthesized.of_type("AWS::SQS::Queue").values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


# ---- build contexts, cdk-nag, cfn-lint ---------------------------------------------------------


def test_layers_are_built_for_the_functions_python() -> None:
    spec = importlib.util.spec_from_file_location("layer_build", project_root() / "layers" / "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert build.PYTHON_VERSION == PYTHON_VERSION
    dockerfile = (project_root() / "layers" / "ml" / "Dockerfile").read_text()
    assert f"FROM public.ecr.aws/lambda/python:{PYTHON_VERSION}" in dockerfile


def test_the_ml_image_context_holds_only_what_the_dockerfile_copies(synthesized: Synthesized) -> None:
    assets = json.loads((synthesized.outdir / f"{synthesized.stack.stack_name}.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    context = synthesized.outdir / image["source"]["directory"]
    assert sorted(p.name for p in context.iterdir()) == ["functions", "layers", "src"]
    assert sorted(p.name for p in (context / "layers").iterdir()) == ["ml"]
    for spec in FUNCTIONS:
        if spec.packaging == "image":
            assert (context / spec.code_dir / "handler.py").is_file()
    assert not list(context.rglob("__pycache__"))


def test_cdk_nag_reports_nothing_unacknowledged(synthesized: Synthesized) -> None:
    report = synthesized.validation_report()
    findings = [
        f"{violation['ruleName']} at {[c.get('constructPath') for c in violation.get('violatingConstructs', [])]}"
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
    ]
    assert findings == []


def test_every_reviewed_iam_wildcard_pattern_is_still_needed(synthesized: Synthesized) -> None:
    findings = [
        finding
        for policy in synthesized.of_type("AWS::IAM::Policy").values()
        for finding in wildcard_findings(policy["Properties"]["PolicyDocument"])
    ]
    for pattern, _ in REVIEWED_WILDCARDS:
        assert any(re.fullmatch(pattern, finding) for finding in findings), pattern


def test_every_acknowledgment_gives_a_reason(synthesized: Synthesized) -> None:
    metadata = json.loads((synthesized.outdir / f"{synthesized.stack.stack_name}.metadata.json").read_text())
    acknowledged = [
        (path, rule, reason)
        for path, entries in metadata.items()
        for entry in entries
        if entry["type"] == "aws:cdk:acknowledged-rules"
        for rule, reason in entry["data"].items()
    ]
    assert acknowledged
    for path, rule, reason in acknowledged:
        assert len(reason.split()) >= 8, (path, rule, reason)


def test_cfn_lint_finds_no_errors(synthesized: Synthesized) -> None:
    account_template = synthesized.outdir / f"{ACCOUNT_STACK_NAME}.template.json"
    matches = lint_file(Path(synthesized.template_file)) + lint_file(account_template)
    errors = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")]
    assert errors == []


def test_deploy_doc_states_what_the_stack_has(synthesized: Synthesized) -> None:
    doc = (project_root() / "docs" / "deploy.md").read_text(encoding="utf-8")
    (alarms,) = re.findall(r"CloudWatch alarms \((\d+)\)", doc)
    assert int(alarms) == len(synthesized.of_type("AWS::CloudWatch::Alarm"))
    for option, (low, high) in FUNCTION_OPTIONS.items():
        assert f"| `{option}.<function>` |" in doc and f"| {low}-{high} |" in doc, option
    largest = max(spec.memory_mb for spec in FUNCTIONS)
    assert f"{largest:,} MB" in doc


# ---- batch scoring -----------------------------------------------------------------------------


def test_batch_scoring_is_a_distributed_map_scoped_to_batch_and_alarmed(synthesized: Synthesized) -> None:
    machine_id = ref_id(synthesized, Ref("state_machine", "batch", "arn"))
    definition = json.loads(synthesized.resources[machine_id]["Properties"]["DefinitionString"])
    maps = [s for s in definition["States"].values() if s["Type"] == "Map"]
    assert [m["ItemProcessor"]["ProcessorConfig"]["Mode"] for m in maps] == ["DISTRIBUTED"]

    data_bucket = ref_id(synthesized, Ref("bucket", "data"))
    for owner in (function_id(synthesized, "batch"), machine_id):
        role_id = single_reference(
            synthesized.resources[owner]["Properties"]["RoleArn" if owner == machine_id else "Role"]
        )
        s3_statements = [
            s
            for s in role_statements(synthesized, role_id)
            if any(a.startswith("s3:") for a in as_list(s["Action"]))
        ]
        assert s3_statements, owner
        for statement in s3_statements:
            for resource in as_list(statement["Resource"]):
                if data_bucket not in referenced_ids(resource):
                    continue
                flat = json.dumps(resource)
                if as_list(statement["Action"]) == ["s3:ListBucket"]:
                    assert statement["Condition"] == {"StringLike": {"s3:prefix": "batch/*"}}
                else:
                    assert flat.endswith('"/batch/*"]]}'), (owner, flat)  # objects under batch/ only

    alarms = [a["Properties"] for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()]
    (failed,) = [
        a
        for a in alarms
        if a["MetricName"] == "ExecutionsFailed" and machine_id in referenced_ids(a["Dimensions"])
    ]
    assert failed["AlarmName"] == "mlops-dev-BatchFailed" and failed["Threshold"] == 1


def capture_object_reads(synthesized: Synthesized, function: str) -> tuple[set[str], list[str]]:
    """The S3 actions a function's role has on the capture bucket, and the object ARN suffixes they name."""
    role_id = single_reference(function_props(synthesized, function)["Role"])
    bucket = ref_id(synthesized, Ref("bucket", "capture"))
    actions: set[str] = set()
    suffixes: list[str] = []
    for statement in role_statements(synthesized, role_id):
        for resource in as_list(statement.get("Resource", [])):
            if bucket in referenced_ids(resource):
                actions |= set(as_list(statement["Action"]))
                joined = resource.get("Fn::Join", ["", []])[1] if isinstance(resource, dict) else []
                if "s3:GetObject*" in as_list(statement["Action"]) and joined and isinstance(joined[-1], str):
                    suffixes.append(joined[-1])
    return actions, suffixes


def test_the_rollout_function_only_reads_captured_traffic_and_labels(synthesized: Synthesized) -> None:
    """A shadow's replay reads the capture bucket (captured requests, ground-truth labels); it never
    writes there."""
    actions, _ = capture_object_reads(synthesized, "rollout")
    assert actions, "the rollout function cannot read captured traffic"
    assert all(action.startswith(("s3:Get", "s3:List")) for action in actions), actions
    assert "s3:GetObject*" in actions or "s3:GetObject" in actions


@pytest.mark.parametrize("function", ["rollout", "drift"])
def test_both_readers_of_labels_may_read_the_labels_prefix_and_its_deprecated_alias(
    synthesized: Synthesized, function: str
) -> None:
    """One upload serves the rollout guardrail and drift's live quality: both roles read objects under
    ``ground-truth/`` and the deprecated ``feedback/`` of the capture bucket."""
    actions, suffixes = capture_object_reads(synthesized, function)
    assert {"s3:List*", "s3:ListBucket"} & actions, function  # the readers list a prefix, then get objects
    for prefix in (LABELS_PREFIX, DEPRECATED_LABELS_PREFIX):
        key = f"/{prefix}churn/2026-03-14.csv"
        assert any(re.fullmatch(re.escape(s).replace(r"\*", ".*"), key) for s in suffixes), (
            function,
            suffixes,
        )
