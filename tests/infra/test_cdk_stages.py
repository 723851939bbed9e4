"""Both stages as they would share one account and region: prod's own properties (kept on deletion, logs
kept a year, zero cdk-nag findings), no shared names, rules and topics that reach only their own stage,
account singletons outside both, defaults within a new account's quotas, and every AWS call the code
makes allowed by its function's role.

The prod synthesis happens in this module (pytest-xdist runs it beside the dev-only module).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Any

import pytest

from infra.constants import ACCOUNT_STACK_NAME, stage_config
from mlops.definition.description import (
    ALARM_RULES,
    FUNCTIONS,
    METRICS_NAMESPACE,
    PROCESSING_JOB_PREFIX,
    ROLLOUT_ALARM_PREFIX,
    FunctionSpec,
    Staged,
    function,
    resource_name,
)
from mlops.drift.monitoring import drift_alarm_name, quality_alarm_name
from mlops.entities import Run
from mlops.pipeline.jobs import job_name
from mlops.rollout_adapters import alarm_name as rollout_alarm

from .client_calls import ClientCall, client_calls
from .conftest import Synthesized
from .test_cdk_stack import as_list, referenced_ids, role_statements, single_reference

pytestmark = pytest.mark.slow

# Lambda's memory quota in a new account (docs/deploy.md, "A new account").
NEW_ACCOUNT_MAX_MEMORY_MB = 3008

KEPT_TYPES = (
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::SQS::Queue",
)


def test_prod_is_its_own_stack_with_prod_names(synthesized_prod: Synthesized) -> None:
    template = synthesized_prod.template
    assert synthesized_prod.stack.stack_name == "MlopsStack-prod"
    names = {
        r["Properties"]["FunctionName"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "FunctionName" in r["Properties"]
    }
    assert {f"mlops-prod-{spec.name}" for spec in FUNCTIONS} <= names


def test_prod_keeps_its_data_when_the_stack_is_deleted(synthesized_prod: Synthesized) -> None:
    resources = synthesized_prod.resources.values()
    for resource in resources:
        if resource["Type"] in KEPT_TYPES:
            # Kept on deletion, yet removed when a first create rolls back, so that a retry does not
            # collide with named log groups the failed attempt left.
            assert resource["DeletionPolicy"] == "RetainExceptOnCreate", resource["Type"]
            assert resource["UpdateReplacePolicy"] == "Retain", resource["Type"]
        if resource["Type"] == "AWS::Logs::LogGroup":
            assert resource["Properties"]["RetentionInDays"] == 365
        if resource["Type"] == "AWS::DynamoDB::Table":
            assert resource["Properties"]["DeletionProtectionEnabled"] is True
    assert not [r for r in resources if r["Type"] == "Custom::S3AutoDeleteObjects"]


def test_prod_has_no_unacknowledged_cdk_nag_findings(synthesized_prod: Synthesized) -> None:
    report = synthesized_prod.validation_report()
    assert [v["ruleName"] for plugin in report["pluginReports"] for v in plugin["violations"]] == []


# ---- both stages in one account ------------------------------------------------------------------

PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}
# The properties that give a resource its physical name, where the template sets one.
NAME_PROPERTIES = {
    "FunctionName",
    "LogGroupName",
    "Name",
    "AlarmName",
    "TopicName",
    "StateMachineName",
    "DeliveryStreamName",
    "UsagePlanName",
    "RoleName",
    "BucketName",
    "TableName",
    "QueueName",
    "AliasName",
}
OTHER_STAGE = {"dev": "prod", "prod": "dev"}
SAMPLE_RUN = Run(
    run_id="iris-upload-0123456789abcdef", dataset="iris", trigger="upload", dataset_version="0" * 64
)


def flatten(value: Any) -> str:
    """A CloudFormation value as a string: pseudo parameters filled in, references as <LogicalId>."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(flatten(item) for item in value)
    if "Ref" in value:
        return PSEUDO.get(value["Ref"], f"<{value['Ref']}>")
    if "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(flatten(part) for part in parts)
    if "Fn::Sub" in value:
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        return re.sub(r"\$\{([\w:]+)\}", lambda m: PSEUDO.get(m.group(1), f"<{m.group(1)}>"), text)
    raise AssertionError(f"cannot flatten {value}")


# Names that live inside another named resource, so they are unique through it: a Lambda alias's name
# is scoped to its (stage-named) function.
NESTED_NAME_TYPES = frozenset({"AWS::Lambda::Alias"})


def physical_names(synthesized: Synthesized) -> set[str]:
    return {
        value
        for resource in synthesized.resources.values()
        if resource["Type"] not in NESTED_NAME_TYPES
        for key, value in resource.get("Properties", {}).items()
        if key in NAME_PROPERTIES and isinstance(value, str)
    }


def run_time_names(stage: str) -> set[str]:
    """What the code names at run time in a stage: alarms, the metric namespace, training jobs."""
    return {
        drift_alarm_name(stage, "iris"),
        quality_alarm_name(stage, "iris"),
        rollout_alarm_name(stage, "iris"),
        METRICS_NAMESPACE.for_stage(stage),
        job_name(stage, SAMPLE_RUN),
    }


def alarm_arn(name: str) -> str:
    return f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"


def rollout_alarm_name(stage: str, model: str) -> str:
    return rollout_alarm(ROLLOUT_ALARM_PREFIX.for_stage(stage), model, "errors")


# Each alarm rule and the run-time alarm it is for.
RULE_ALARMS = {"drift-alarm-retrain": drift_alarm_name, "rollout-alarm-rollback": rollout_alarm_name}


def stage_alarm_names(synthesized: Synthesized, stage: str) -> set[str]:
    static = {a["Properties"]["AlarmName"] for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()}
    return static | {
        drift_alarm_name(stage, "iris"),
        quality_alarm_name(stage, "iris"),
        rollout_alarm_name(stage, "iris"),
    }


def test_no_name_is_shared_between_stages_and_every_name_carries_its_stage(
    both_stages: dict[str, Synthesized],
) -> None:
    names = {stage: physical_names(s) | run_time_names(stage) for stage, s in both_stages.items()}
    assert len(names["dev"]) > 20 and len(names["prod"]) > 20
    assert names["dev"] & names["prod"] == set()
    for stage, stage_names in names.items():
        for name in stage_names:
            assert f"-{stage}-" in name or name.endswith(f"/{stage}"), name
    for stage, synthesized in both_stages.items():
        for spec in FUNCTIONS:
            variables = synthesized.resources[
                synthesized.logical_id(synthesized.stack.resources.function(spec.name))
            ]["Properties"]["Environment"]["Variables"]
            for key, value in spec.env.items():
                if isinstance(value, Staged):
                    assert variables[key] == value.for_stage(stage), (spec.name, key)


def test_each_alarm_rule_matches_only_its_own_stages_alarms(both_stages: dict[str, Synthesized]) -> None:
    for stage, synthesized in both_stages.items():
        other = OTHER_STAGE[stage]
        rules = [r["Properties"] for r in synthesized.of_type("AWS::Events::Rule").values()]
        patterns = {
            r["Name"]: r["EventPattern"]
            for r in rules
            if r.get("EventPattern", {}).get("detail-type") == ["CloudWatch Alarm State Change"]
        }
        assert len(patterns) == len(ALARM_RULES)
        for rule in ALARM_RULES:
            (prefix,) = [
                p["prefix"] for p in patterns[resource_name(stage, rule.name)]["detail"]["alarmName"]
            ]
            own = RULE_ALARMS[rule.name](stage, "iris")
            assert own.startswith(prefix)
            for name in stage_alarm_names(both_stages[other], other):
                assert not name.startswith(prefix), (stage, name)
            # Never the stage's other alarms: stack and quality alarms notify, the rest have their rule.
            for name in stage_alarm_names(synthesized, stage) - {own}:
                assert not name.startswith(prefix), (stage, name)


def may_publish(allows: list[dict[str, Any]], alarm_name: str) -> bool:
    """Whether one of the topic policy's statements lets CloudWatch publish for this alarm."""
    for statement in allows:
        conditions = statement.get("Condition", {})
        patterns = [flatten(p) for p in as_list(conditions.get("ArnLike", {}).get("aws:SourceArn", "*"))]
        account = flatten(
            conditions.get("StringEquals", {}).get("aws:SourceAccount", PSEUDO["AWS::AccountId"])
        )
        if account == PSEUDO["AWS::AccountId"] and any(fnmatch(alarm_arn(alarm_name), p) for p in patterns):
            return True
    return False


def test_every_alarm_can_publish_to_its_topic(both_stages: dict[str, Synthesized]) -> None:
    for stage, synthesized in both_stages.items():
        topic = synthesized.logical_id(synthesized.stack.monitoring.topic)
        (policy,) = [
            p["Properties"]["PolicyDocument"]["Statement"]
            for p in synthesized.of_type("AWS::SNS::TopicPolicy").values()
            if {"Ref": topic} in p["Properties"]["Topics"]
        ]
        allows = [
            s
            for s in policy
            if s["Effect"] == "Allow"
            and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
            and "sns:Publish" in as_list(s["Action"])
        ]
        assert allows, stage
        (key,) = synthesized.of_type("AWS::KMS::Key").values()
        key_allows = {
            action
            for s in key["Properties"]["KeyPolicy"]["Statement"]
            if s["Effect"] == "Allow" and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
            for action in as_list(s["Action"])
        }
        assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= key_allows
        assert single_reference(
            synthesized.resources[topic]["Properties"]["KmsMasterKeyId"]
        ) == synthesized.logical_id(synthesized.stack.storage.key)

        alarms = [a["Properties"] for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()]
        for alarm in alarms:
            assert alarm["AlarmActions"] == [{"Ref": topic}]
        for name in stage_alarm_names(synthesized, stage):
            assert may_publish(allows, name), (stage, name)
        other = OTHER_STAGE[stage]
        for name in stage_alarm_names(both_stages[other], other):
            assert not may_publish(allows, name), (stage, name)


def test_the_account_singleton_is_in_neither_stage_but_in_the_account_stack(
    both_stages: dict[str, Synthesized],
) -> None:
    for synthesized in both_stages.values():
        assert synthesized.of_type("AWS::ApiGateway::Account") == {}
        stage_roles = synthesized.of_type("AWS::IAM::Role").values()
        assert not any(
            "apigateway.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
            for r in stage_roles
        )
        account = synthesized.account_template["Resources"]
        (singleton,) = [r for r in account.values() if r["Type"] == "AWS::ApiGateway::Account"]
        assert (
            account[single_reference(singleton["Properties"]["CloudWatchRoleArn"])]["DeletionPolicy"]
            == "Retain"
        )
        manifest = json.loads((synthesized.outdir / "manifest.json").read_text())
        assert ACCOUNT_STACK_NAME in manifest["artifacts"][synthesized.stack.stack_name]["dependencies"]
    assert both_stages["dev"].account_template == both_stages["prod"].account_template


def test_defaults_fit_a_new_accounts_quotas(both_stages: dict[str, Synthesized]) -> None:
    for synthesized in both_stages.values():
        for deployed in synthesized.of_type("AWS::Lambda::Function").values():
            assert deployed["Properties"].get("MemorySize", 128) <= NEW_ACCOUNT_MAX_MEMORY_MB
            assert "ReservedConcurrentExecutions" not in deployed["Properties"]


def test_quotas_are_stage_options_from_the_context() -> None:
    training = function("training")
    config = stage_config("prod", {"memory_mb.training": "10240", "dev.reserved_concurrency.training": "5"})
    assert config.function_memory_mb(training) == 10240
    assert config.function_reserved_concurrency(training) is None  # set for dev only
    dev = stage_config("dev", {"dev.reserved_concurrency.training": 5})
    assert dev.function_reserved_concurrency(training) == 5
    assert dev.function_memory_mb(training) == training.memory_mb <= NEW_ACCOUNT_MAX_MEMORY_MB
    for context, message in (
        ({"memory_mb.training": "lots"}, "whole number"),
        ({"memory_mb.training": "20000"}, "between 128 and 10240"),
        ({"memory_mb.trainer": "1024"}, "names no function"),
    ):
        with pytest.raises(ValueError, match=message):
            stage_config("dev", context)


# ---- every AWS call the code makes is allowed by its function's role -------------------------------

CFN_TYPE_OF_SERVICE = {
    "s3": "AWS::S3::Bucket",
    "dynamodb": "AWS::DynamoDB::Table",
    "stepfunctions": "AWS::StepFunctions::StateMachine",
    "firehose": "AWS::KinesisFirehose::DeliveryStream",
}


def test_the_call_reader_finds_the_calls_that_matter() -> None:
    drift = {a for c in client_calls(function("drift")).found for a in c.actions}
    assert {"cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:PutMetricData"} <= drift
    training = {a for c in client_calls(function("training")).found for a in c.actions}
    assert {"sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "iam:PassRole"} <= training
    assert "firehose:PutRecordBatch" in {
        a for c in client_calls(function("inference")).found for a in c.actions
    }


@dataclass(frozen=True)
class RoleReach:
    """What a function's role must reach in a stage, as the code names it at run time."""

    synthesized: Synthesized
    environment: dict[str, Any]
    alarm_arns: tuple[str, ...]
    training_job_arn: str
    processing_job_arn: str

    @classmethod
    def of(cls, synthesized: Synthesized, stage: str, props: dict[str, Any]) -> RoleReach:
        # SageMaker writes resource names in ARNs in lower case.
        jobs = "arn:aws:sagemaker:us-east-1:123456789012"
        training = f"{jobs}:training-job/{job_name(stage, SAMPLE_RUN)}".lower()
        processing = f"{jobs}:processing-job/{job_name(stage, SAMPLE_RUN, PROCESSING_JOB_PREFIX)}".lower()
        if props["FunctionName"] == resource_name(stage, "rollout"):
            alarms: tuple[str, ...] = (alarm_arn(rollout_alarm_name(stage, "iris")),)
        else:
            alarms = (
                alarm_arn(drift_alarm_name(stage, "iris")),
                alarm_arn(quality_alarm_name(stage, "iris")),
            )
        return cls(synthesized, props["Environment"]["Variables"], alarms, training, processing)

    def allows(self, call: ClientCall, action: str, statement: dict[str, Any]) -> bool:
        if not any(fnmatch(action, pattern) for pattern in as_list(statement["Action"])):
            return False
        resources = as_list(statement.get("Resource", []))
        if action == "cloudwatch:PutMetricData":
            namespace = statement.get("Condition", {}).get("StringEquals", {}).get("cloudwatch:namespace")
            return namespace is not None and namespace in (
                self.environment.get("METRICS_NAMESPACE"),
                self.environment.get("POWERTOOLS_METRICS_NAMESPACE"),
            )
        if action == "cloudwatch:GetMetricStatistics":  # no resource-level scope
            return "*" in resources
        if action.startswith("cloudwatch:"):
            return all(any(fnmatch(arn, flatten(r)) for r in resources) for arn in self.alarm_arns)
        if action.startswith("sagemaker:"):
            job = self.processing_job_arn if "ProcessingJob" in action else self.training_job_arn
            return any(fnmatch(job, flatten(r)) for r in resources)
        reached = referenced_ids(resources) & referenced_ids(self.environment)
        if action == "iam:PassRole":
            return reached != set()
        wanted = CFN_TYPE_OF_SERVICE[call.service]
        return any(self.synthesized.resources[i]["Type"] == wanted for i in reached)


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.name)
def test_every_aws_call_in_the_code_is_allowed_by_its_functions_role(
    both_stages: dict[str, Synthesized], spec: FunctionSpec
) -> None:
    calls = client_calls(spec)
    assert calls.unresolved == []
    for stage, synthesized in both_stages.items():
        props = synthesized.resources[
            synthesized.logical_id(synthesized.stack.resources.function(spec.name))
        ]["Properties"]
        statements = [
            s for s in role_statements(synthesized, single_reference(props["Role"])) if s["Effect"] == "Allow"
        ]
        reach = RoleReach.of(synthesized, stage, props)
        denied = [
            f"{action} for {call}"
            for call in calls.found
            for action in call.actions
            if not any(reach.allows(call, action, statement) for statement in statements)
        ]
        assert denied == [], stage


def test_provisioned_concurrency_is_an_option_that_replaces_snapstart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from infra.app import build_app

    from .conftest import REPORT_INSTEAD_OF_FAILING, SKIP_BUNDLING

    outdir = tmp_path_factory.mktemp("cdk-provisioned")
    app, stack = build_app(
        {**SKIP_BUNDLING, **REPORT_INSTEAD_OF_FAILING, "provisioned_concurrency": "2"}, outdir=str(outdir)
    )
    template = app.synth().get_stack_by_name(stack.stack_name).template
    resources = template["Resources"]
    (alias,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Alias"]
    assert alias["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    # Lambda takes one or the other on a version: with environments provisioned, no SnapStart.
    assert all(
        "SnapStart" not in r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"
    )


def test_provisioned_concurrency_must_be_a_count() -> None:
    with pytest.raises(ValueError, match="whole number"):
        stage_config("dev", {"provisioned_concurrency": "lots"})
    assert stage_config("dev").provisioned_concurrency == 0
    assert stage_config("prod", {"prod.provisioned_concurrency": "3"}).provisioned_concurrency == 3
    assert stage_config("dev", {"prod.provisioned_concurrency": "3"}).provisioned_concurrency == 0
