"""cdk-nag (AwsSolutions) acknowledgments, each with its reason.

Rule-level acknowledgments are made where the resource is built. IAM wildcard findings
(``AwsSolutions-IAM5[Action::...]`` / ``[Resource::...]``) come from CDK's grants and from the
description's permissions, one finding per wildcard string; ``acknowledge_iam_wildcards`` computes the
findings of every IAM policy in the stack the way cdk-nag does and acknowledges those matching one of
the reviewed patterns below, with that pattern's reason. A wildcard matching no pattern stays
unacknowledged and fails synthesis.
"""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from mlops.definition.description import (
    BATCH_PREFIX,
    DRIFT_ALARM_PREFIX,
    PROCESSING_JOB_PREFIX,
    QUALITY_ALARM_PREFIX,
    ROLLOUT_ALARM_PREFIX,
    STAGE_FIELD,
    TRAINING_JOB_PREFIX,
    Staged,
)

IAM_WILDCARD_RULE = "AwsSolutions-IAM5"
MANAGED_POLICY_RULE = "AwsSolutions-IAM4"
LAMBDA_BASIC_EXECUTION = "arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
API_GATEWAY_LOGS = "arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def any_stage(name: Staged) -> str:
    """A regular expression for a run-time name pattern in any stage."""
    return r"\w+".join(re.escape(part) for part in name.pattern.split(STAGE_FIELD))


# (finding pattern, reason). Findings look like ``Action::s3:GetObject*`` and
# ``Resource::<DataBucket1234.Arn>/*`` (cdk-nag writes references as <LogicalId.Attribute>).
REVIEWED_WILDCARDS: tuple[tuple[str, str], ...] = (
    (
        r"Action::s3:(GetObject|GetBucket|List|DeleteObject|Abort)\*",
        "CDK's read/write bucket grant; scoped to the buckets the role's function names in its environment.",
    ),
    (
        r"Resource::<\w+\.Arn>/\*",
        "Objects of a bucket the role reads and writes (bucket/*): object keys are data (datasets, models, "
        "reports, captures) and not known ahead.",
    ),
    (
        r"Action::kms:(GenerateDataKey|ReEncrypt)\*",
        "CDK's grant on the stack's key for the KMS-encrypted buckets the role may use; scoped to that key.",
    ),
    (
        r"Resource::<\w+\.Arn>/index/\*",
        "The metadata table's secondary indexes, which the registry queries; scoped to that table.",
    ),
    (
        r"Resource::<\w+\.Arn>:\*",
        "Invocation of the versions and aliases of the pipeline's own functions, as CDK grants it.",
    ),
    (
        r"Resource::\*",
        "Only for actions without resource-level permissions: X-Ray trace upload, Step Functions log "
        "delivery, ECR authorization tokens, CloudWatch GetMetricStatistics, and PutMetricData restricted by a "
        "namespace condition (a test holds every such statement to that list).",
    ),
    (
        r"Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<\w+\.Name>:\*",
        "The executions of the stack's own state machine, named per run; the reconcile function describes "
        "them.",
    ),
    (
        rf"Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:training-job/"
        rf"{any_stage(TRAINING_JOB_PREFIX)}\*",
        "Training jobs are named per run with the stage's prefix; the training step starts, polls and "
        "stops its own stage's jobs.",
    ),
    (
        rf"Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:processing-job/"
        rf"{any_stage(PROCESSING_JOB_PREFIX)}\*",
        "Processing jobs (ingest and validation of big uploads) are named per run with the stage's prefix; "
        "the validation step starts, polls and stops its own stage's jobs.",
    ),
    (
        rf"Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:{any_stage(DRIFT_ALARM_PREFIX)}\*",
        "The drift function keeps one drift alarm per model, all named with the stage's drift alarm prefix.",
    ),
    (
        rf"Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:{any_stage(QUALITY_ALARM_PREFIX)}\*",
        "The drift function keeps one live-quality alarm per model, named with the stage's quality prefix.",
    ),
    (
        rf"Resource::<\w+\.Arn>/{BATCH_PREFIX}\*",
        "Batch scoring reads its inputs and writes its outputs under the data bucket's batch/ prefix only; "
        "object names there are the users' own.",
    ),
    (
        r"Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:mlops-\w+-"
        r"batch/\*",
        "The batch state machine's Distributed Map follows and stops its own child executions, which Step "
        "Functions names under the map run.",
    ),
    (
        rf"Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:{any_stage(ROLLOUT_ALARM_PREFIX)}\*",
        "The rollout function keeps a running canary's error-rate and latency alarms, named with the "
        "stage's rollout prefix.",
    ),
    (
        r"Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/"
        r"TrainingJobs:\*",
        "SageMaker training jobs write their logs to this fixed log group, one stream per job.",
    ),
    (
        r"Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/"
        r"ProcessingJobs:\*",
        "SageMaker processing jobs write their logs to this fixed log group, one stream per job.",
    ),
)


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def flatten_reference(value: Any) -> str:
    """A CloudFormation value as one string, the way cdk-nag names it in a finding."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return str(delimiter).join(flatten_reference(item) for item in items)
        if "Fn::Sub" in value:
            return flatten_reference(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
        if "Fn::ImportValue" in value:
            return flatten_reference(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{flatten_reference(value['Ref'])}>"
    return str(value)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def wildcard_findings(policy_document: dict[str, Any]) -> list[str]:
    findings: list[str] = []
    for statement in policy_document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        for action in _as_list(statement.get("Action", [])):
            if "*" in action:
                findings.append(f"Action::{action}")
        for resource in _as_list(statement.get("Resource", [])):
            flat = flatten_reference(resource)
            if "*" in flat:
                findings.append(f"Resource::{flat}")
    return list(dict.fromkeys(findings))


def reason_for(finding: str) -> str | None:
    for pattern, reason in REVIEWED_WILDCARDS:
        if re.fullmatch(pattern, finding):
            return reason
    return None


def acknowledge_iam_wildcards(stack: Stack) -> None:
    """Acknowledge the reviewed wildcard findings of every IAM policy in the stack; call it last."""
    for node in stack.node.find_all():
        if isinstance(node, iam.CfnPolicy):
            document = stack.resolve(node.policy_document)
            for finding in wildcard_findings(document):
                reason = reason_for(finding)
                if reason is not None:
                    acknowledge(node, f"{IAM_WILDCARD_RULE}[{finding}]", reason)
