"""``mlops models list|promote|rollback``: the model versions and the production alias."""

from __future__ import annotations

import argparse
from typing import Any

from mlops import deployments
from mlops.cli import render
from mlops.cli.connection import Context
from mlops.cli.errors import EXIT_OK, CliError
from mlops.entities import ModelVersion

LIST_FIELDS = ("name", "version", "status", "metrics", "dataset_version", "created_at")


def model_row(model: ModelVersion) -> dict[str, Any]:
    """A model version as ``models list --json`` prints it (docs/cli.md#mlops-models-list)."""
    document = model.model_dump(mode="json")
    return {name: document[name] for name in LIST_FIELDS}


def _table_row(m: ModelVersion) -> tuple[object, ...]:
    return (
        m.name,
        m.version,
        m.status,
        render.metrics(m.metrics, limit=3),
        render.short_sha(m.dataset_version),
        m.created_at,
    )


def models_list(args: argparse.Namespace, ctx: Context) -> int:
    if args.name:
        page, _ = ctx.registry.models.page_model_versions(args.name, limit=args.limit + 1)
        if not page:
            raise CliError(f"No model named '{args.name}'.")
        models, more = page[: args.limit], len(page) > args.limit
    else:
        models, more = ctx.registry.models.newest_versions(args.limit)
    if more:
        ctx.note(f"Showing the first {args.limit} versions (by name, newest first); --limit N shows more.")
    headers = ("NAME", "VERSION", "STATUS", "METRICS", "DATASET_VERSION", "CREATED")
    ctx.say(render.listing(models, args.json, model_row, headers, _table_row, empty="No models yet."))
    return EXIT_OK


def models_promote(args: argparse.Namespace, ctx: Context) -> int:
    ctx.say(deployments.promote(ctx.registry, args.name, args.version, args.reason).message)
    return EXIT_OK


def models_rollback(args: argparse.Namespace, ctx: Context) -> int:
    ctx.say(deployments.rollback(ctx.registry, args.name, args.reason).message)
    return EXIT_OK
