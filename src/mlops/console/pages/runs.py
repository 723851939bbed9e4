"""Runs: a stage timeline (Gantt) of each run, with the reason of a failure."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from mlops.cli import render
from mlops.cli.describe import run_duration, stage_highlight
from mlops.console import charts
from mlops.console.app import Context, Page, Route, Section
from mlops.console.html import Html, badge, fields, join, link, notice, pager, path, section, table, when
from mlops.console.pages.datasets import validation_summary
from mlops.entities import Run, StageRecord

PAGE_SIZE = 25
_READERS = 8  # stage queries of one page run in parallel: one DynamoDB round trip each


def stage_bars(run: Run, stages: Sequence[StageRecord]) -> list[charts.Bar]:
    bars = []
    for stage in stages:
        start = (stage.started_at - run.started_at).total_seconds()
        if stage.ended_at is not None:
            end = (stage.ended_at - run.started_at).total_seconds()
        else:
            end = start + (stage.duration_s or 0.0)
        bars.append(charts.Bar(stage.name, max(start, 0.0), max(end, start), stage.status))
    return bars


def run_label(run: Run) -> str:
    return f"{run.dataset} · {run.started_at:%m-%d %H:%M:%S}"


def index(ctx: Context, _: dict[str, str]) -> Page:
    runs, cursor = ctx.registry.runs.page_runs(PAGE_SIZE, ctx.optional("after"))
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        stages = list(pool.map(lambda r: ctx.registry.runs.run_stages(r.run_id), runs))
    rows = [
        charts.GanttRow(
            run_label(run),
            path("runs", run.run_id),
            stage_bars(run, run_stages),
            note=f"failed at {run.failed_stage}" if run.status == "FAILED" else "",
        )
        for run, run_stages in zip(runs, stages, strict=True)
    ]
    timeline = (
        charts.gantt(rows, "Stage timeline of the runs on this page, newest first") if runs else Html("")
    )
    body = join(
        [
            section("Timeline", timeline) if runs else Html(""),
            section(
                "Runs",
                table(
                    ("Run", "Dataset", "Trigger", "Status", "Model", "Started", "Took", "Failure"),
                    [run_row(r) for r in runs],
                    "Runs, newest first",
                    "No runs yet: upload a CSV to start one.",
                ),
                pager("/runs", cursor),
            ),
        ]
    )
    return Page("Runs", body)


def run_row(run: Run) -> tuple[object, ...]:
    model = None
    if run.model_version is not None:
        promoted = "promoted" if run.promoted else "not promoted"
        model = link(path("models", run.dataset), f"v{run.model_version} ({promoted})")
    failure = f"{run.failed_stage}: {run.error}" if run.status == "FAILED" else None
    return (
        link(path("runs", run.run_id), run.run_id),
        link(path("datasets", run.dataset), run.dataset),
        run.trigger,
        badge(run.status),
        model,
        when(run.started_at),
        render.duration(run_duration(run)) if run.ended_at else None,
        failure,
    )


def show(ctx: Context, params: dict[str, str]) -> Page:
    run = ctx.registry.runs.get_run(params["run_id"])
    rows = [charts.GanttRow(bar.name, None, [bar]) for bar in stage_bars(run, run.stages)]
    failure = (
        notice(
            f"Failed at {run.failed_stage or 'an unknown stage'}: {run.error or 'no reason recorded'}",
            "error",
        )
        if run.status == "FAILED"
        else Html("")
    )
    dataset_version = (
        link(
            path("datasets", run.dataset, "versions", run.dataset_version),
            render.short_sha(run.dataset_version),
        )
        if run.dataset_version
        else None
    )
    model = None
    if run.model_version is not None:
        model = link(
            path("lineage", run.dataset, run.model_version),
            f"v{run.model_version} ({'promoted' if run.promoted else 'not promoted'})",
        )
    validation = next((s for s in run.stages if s.name == "validation"), None)
    body = join(
        [
            failure,
            fields(
                [
                    ("dataset", link(path("datasets", run.dataset), run.dataset)),
                    ("dataset version", dataset_version),
                    ("trigger", run.trigger),
                    ("status", badge(run.status)),
                    ("started", when(run.started_at)),
                    ("took", render.duration(run_duration(run)) if run.ended_at else None),
                    ("model", model),
                    ("decision", run.decision),
                ]
            ),
            section(
                "Stages",
                charts.gantt(rows, f"Stage timeline of run {run.run_id}") if rows else Html(""),
                table(
                    ("Stage", "Status", "Started", "Took", "Summary"),
                    [
                        (
                            s.name,
                            badge(s.status),
                            when(s.started_at),
                            render.duration(s.duration_s),
                            stage_highlight(s),
                        )
                        for s in run.stages
                    ],
                    "Stages in the order they ran",
                    "No stage recorded.",
                ),
            ),
            section("Validation", validation_summary(validation)) if validation else Html(""),
        ]
    )
    return Page(f"Run {run.run_id}", body)


SECTION = Section(
    "Runs",
    "/runs",
    (Route("GET", "/runs", index), Route("GET", "/runs/(?P<run_id>[^/]+)", show)),
)
