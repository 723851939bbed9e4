"""``-c stage=prod``: the same stack, kept on deletion, logs kept a year, and still zero cdk-nag findings.
A second synthesis, in its own module so pytest-xdist can run it beside the dev one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlops.stack.description import FUNCTIONS

from .conftest import REPORT_INSTEAD_OF_FAILING, SKIP_BUNDLING

pytestmark = pytest.mark.slow

KEPT_TYPES = (
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::SQS::Queue",
)


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any], Path]:
    from infra.app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out.prod")
    app, stack = build_app(
        {**SKIP_BUNDLING, **REPORT_INSTEAD_OF_FAILING, "stage": "prod"}, outdir=str(outdir)
    )
    template = app.synth().get_stack_by_name(stack.stack_name).template
    return stack.stack_name, template, outdir


def test_prod_is_its_own_stack_with_prod_names(prod: tuple[str, dict[str, Any], Path]) -> None:
    stack_name, template, _ = prod
    assert stack_name == "MlopsStack-prod"
    names = {
        r["Properties"]["FunctionName"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "FunctionName" in r["Properties"]
    }
    assert {f"mlops-prod-{spec.name}" for spec in FUNCTIONS} <= names


def test_prod_keeps_its_data_when_the_stack_is_deleted(prod: tuple[str, dict[str, Any], Path]) -> None:
    _, template, _ = prod
    resources = template["Resources"].values()
    for resource in resources:
        if resource["Type"] in KEPT_TYPES:
            assert resource["DeletionPolicy"] == "Retain", resource["Type"]
        if resource["Type"] == "AWS::Logs::LogGroup":
            assert resource["Properties"]["RetentionInDays"] == 365
        if resource["Type"] == "AWS::DynamoDB::Table":
            assert resource["Properties"]["DeletionProtectionEnabled"] is True
    assert not [r for r in resources if r["Type"] == "Custom::S3AutoDeleteObjects"]


def test_prod_has_no_unacknowledged_cdk_nag_findings(prod: tuple[str, dict[str, Any], Path]) -> None:
    _, _, outdir = prod
    report = json.loads((outdir / "validation-report.json").read_text())
    assert [v["ruleName"] for plugin in report["pluginReports"] for v in plugin["violations"]] == []


def test_provisioned_concurrency_is_an_option_that_replaces_snapstart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from infra.app import build_app

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
    from infra.constants import stage_config

    with pytest.raises(ValueError, match="whole number"):
        stage_config("dev", provisioned_concurrency="lots")
    assert stage_config("dev").provisioned_concurrency == 0
