"""The CDK app synthesized once per stage and test session (synthesis takes seconds), without building
layers.

``aws:cdk:bundling-stacks: []`` is CDK's switch to skip asset bundling, so no pip download runs; the
Docker image asset is only staged, never built. cdk-nag runs as in ``make synth``, but its findings are
collected from the validation report instead of failing synthesis, so the nag test can name them.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops.definition.description import project_root

# The CDK app lives in infra/ at the project root, beside the installed package's source.
if str(project_root()) not in sys.path:
    sys.path.insert(0, str(project_root()))

import infra  # noqa: F401  (pins the jsii runtime's Node.js before aws_cdk loads)
from infra.app import build_app
from infra.constants import ACCOUNT_STACK_NAME
from infra.stack import MlopsStack

SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}
REPORT_INSTEAD_OF_FAILING: dict[str, Any] = {"@aws-cdk/core:failSynthOnValidationErrors": False}


@dataclass(frozen=True)
class Synthesized:
    stack: MlopsStack
    template: dict[str, Any]
    outdir: Path
    # The account stack synthesized beside the stage's (infra/account.py).
    account_template: dict[str, Any]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    @property
    def template_file(self) -> Path:
        return self.outdir / self.stack.template_file

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {lid: res for lid, res in self.resources.items() if res["Type"] == cfn_type}

    def logical_id(self, construct: Any) -> str:
        """The logical ID of a construct's CloudFormation resource (L2 constructs: their default child)."""
        element = getattr(construct.node, "default_child", None) or construct
        return str(self.stack.resolve(element.logical_id))

    def validation_report(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads((self.outdir / "validation-report.json").read_text())
        return report


def synthesize(outdir: Path, stage: str) -> Synthesized:
    app, stack = build_app({**SKIP_BUNDLING, **REPORT_INSTEAD_OF_FAILING, "stage": stage}, outdir=str(outdir))
    assembly = app.synth()
    template = assembly.get_stack_by_name(stack.stack_name).template
    account = assembly.get_stack_by_name(ACCOUNT_STACK_NAME).template
    return Synthesized(stack=stack, template=template, outdir=outdir, account_template=account)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The dev stage."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"), "dev")


@pytest.fixture(scope="session")
def synthesized_prod(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk.out.prod"), "prod")


@pytest.fixture(scope="session")
def both_stages(synthesized: Synthesized, synthesized_prod: Synthesized) -> dict[str, Synthesized]:
    return {"dev": synthesized, "prod": synthesized_prod}
