"""The CDK app: ``python infra/app.py [-c stage=prod]`` (or ``python -m infra.app``) writes the cloud
assembly to ``cdk.out/``; ``npx aws-cdk@2 deploy --app cdk.out`` deploys it (docs/deploy.md).

Context comes from ``cdk.json`` (the feature flags) in both ways of running it, so a synthesis by the
CDK CLI and one by this script give the same template. ``-c key=value`` arguments work here too.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script, Python puts infra/ first on sys.path, where infra/constructs would shadow the
    # `constructs` library: put the project root there instead.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import infra  # noqa: F401, I001  (first: pins the Node.js the jsii runtime uses, before aws_cdk loads)
import itertools
import json
import os
from typing import Any

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from infra.account import AccountStack
from infra.constants import (
    ACCOUNT_STACK_NAME,
    DEFAULT_STAGE,
    STACK_NAME_CONTEXT,
    STAGE_CONTEXT,
    default_stack_name,
    stage_config,
)
from infra.stack import MlopsStack
from mlops.definition.description import project_root

DEFAULT_OUTDIR = "cdk.out"


def cdk_json_context() -> dict[str, Any]:
    cdk_json = project_root() / "cdk.json"
    context: dict[str, Any] = json.loads(cdk_json.read_text(encoding="utf-8")).get("context", {})
    return context


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> tuple[App, MlopsStack]:
    """The app with the stage's stack, the account stack it depends on and cdk-nag's AwsSolutions
    checks, context over cdk.json's."""
    merged = {**cdk_json_context(), **(context or {})}
    app = App(context=merged, outdir=outdir)
    stage = stage_config(str(app.node.try_get_context(STAGE_CONTEXT) or DEFAULT_STAGE), merged)
    stack_name = app.node.try_get_context(STACK_NAME_CONTEXT) or default_stack_name(stage.name)
    # Account and region from the deploying credentials (CDK_DEFAULT_*), unresolved when absent.
    env = Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    account = AccountStack(app, ACCOUNT_STACK_NAME, env=env)
    stack = MlopsStack(app, stack_name, stage=stage, env=env)
    # `cdk deploy <stage stack>` deploys the account stack first (a no-op once it exists).
    stack.add_stack_dependency(account)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def context_arguments(argv: list[str]) -> dict[str, str]:
    """``-c key=value`` / ``--context key=value`` pairs, as the CDK CLI takes them."""
    context: dict[str, str] = {}
    for flag, value in itertools.pairwise(argv):
        if flag in ("-c", "--context"):
            key, sep, val = value.partition("=")
            if not sep:
                raise SystemExit(f"Context argument {value!r} is not key=value.")
            context[key] = val
    return context


def main(argv: list[str] | None = None) -> int:
    context = context_arguments(sys.argv[1:] if argv is None else argv)
    # The CDK CLI sets CDK_OUTDIR; run directly, the assembly goes to cdk.out/ like the CLI's.
    outdir = os.environ.get("CDK_OUTDIR") or str(project_root() / DEFAULT_OUTDIR)
    app, _ = build_app(context, outdir=outdir)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
