"""``mlops runs list`` and ``mlops runs show``."""

from __future__ import annotations

import argparse
from typing import Any

from mlops.cli import render
from mlops.cli.connection import Context
from mlops.cli.describe import check_lines, run_duration, stage_highlight
from mlops.cli.errors import EXIT_OK
from mlops.entities import Run, StageRecord

LIST_FIELDS = (
    "run_id",
    "dataset",
    "trigger",
    "status",
    "failed_stage",
    "error",
    "model_version",
    "promoted",
    "started_at",
    "ended_at",
)


def run_row(run: Run) -> dict[str, Any]:
    """A run as ``runs list --json`` prints it (docs/cli.md#mlops-runs-list)."""
    document = run.model_dump(mode="json")
    return {name: document[name] for name in LIST_FIELDS}


def _table_row(r: Run) -> tuple[object, ...]:
    return (
        r.run_id,
        r.dataset,
        r.trigger,
        r.status,
        r.failed_stage,
        f"v{r.model_version}" if r.model_version is not None else None,
        r.promoted if r.model_version is not None else None,
        r.started_at,
        render.duration(run_duration(r)) if r.ended_at else None,
        r.error,
    )


def run_list(args: argparse.Namespace, ctx: Context) -> int:
    runs = ctx.registry.runs.list_runs(args.dataset, limit=args.limit)
    headers = (
        "RUN",
        "DATASET",
        "TRIGGER",
        "STATUS",
        "FAILED_STAGE",
        "MODEL",
        "PROMOTED",
        "STARTED",
        "TOOK",
        "ERROR",
    )
    ctx.say(render.listing(runs, args.json, run_row, headers, _table_row, empty="No runs yet."))
    return EXIT_OK


def stage_document(stage: StageRecord) -> dict[str, Any]:
    return {**stage.model_dump(mode="json"), "highlights": stage_highlight(stage)}


def show_document(run: Run) -> dict[str, Any]:
    """A run with its stages, timings, validation report summary and decision."""
    validation = next((s for s in run.stages if s.name == "validation"), None)
    document = run.model_dump(mode="json", exclude={"stages"})
    document["duration_s"] = run_duration(run)
    document["stages"] = [stage_document(s) for s in run.stages]
    document["validation"] = validation.summary if validation else None
    return document


def run_show(args: argparse.Namespace, ctx: Context) -> int:
    run = ctx.registry.runs.get_run(args.run_id)
    if args.json:
        ctx.say(render.to_json(show_document(run)))
        return EXIT_OK
    ctx.say(render_show(run))
    return EXIT_OK


def render_show(run: Run) -> str:
    version = f" (version {render.short_sha(run.dataset_version)})" if run.dataset_version else ""
    model = None
    if run.model_version is not None:
        model = f"v{run.model_version} ({'promoted' if run.promoted else 'not promoted'})"
    sections = [
        f"Run {run.run_id}",
        render.fields(
            [
                ("dataset", f"{run.dataset}{version}"),
                ("config", f"revision {run.config_revision}" if run.config_revision is not None else None),
                ("trigger", run.trigger),
                ("status", run.status),
                ("failed stage", run.failed_stage),
                ("error", run.error),
                ("started", render.timestamp(run.started_at)),
                ("ended", render.timestamp(run.ended_at) if run.ended_at else None),
                ("duration", render.duration(run_duration(run)) if run.ended_at else None),
                ("model", model),
                ("decision", run.decision),
                ("execution", run.execution_arn),
            ]
        ),
        "",
        "Stages",
        _indent(
            render.table(
                ("STAGE", "STATUS", "STARTED", "DURATION", "SUMMARY"),
                [
                    (
                        s.name,
                        s.status,
                        render.timestamp(s.started_at),
                        render.duration(s.duration_s),
                        stage_highlight(s),
                    )
                    for s in run.stages
                ],
                empty="(no stage recorded)",
            )
        ),
    ]
    validation = next((s for s in run.stages if s.name == "validation"), None)
    if validation is not None and validation.summary:
        sections += ["", "Validation", render_validation(validation.summary)]
    return "\n".join(sections)


def render_validation(summary: dict[str, Any]) -> str:
    passed = summary.get("passed")
    lines = [
        render.fields(
            [
                ("report", summary.get("report")),
                ("passed", passed if isinstance(passed, bool) else None),
                ("rows", f"{summary['rows']:,}" if isinstance(summary.get("rows"), int) else None),
                ("warnings", summary.get("warnings")),
                ("failures", summary.get("failures")),
                ("excluded", ", ".join(summary.get("excluded_columns") or []) or None),
            ]
        )
    ]
    # Passing checks are in the report; the warnings and failures are what a reader needs here.
    lines.extend(check_lines(summary))
    return "\n".join(line for line in lines if line)


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())
