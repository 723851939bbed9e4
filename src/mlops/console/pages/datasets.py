"""Datasets: their versions, each version's profile (distributions, missing values, types) and the
warnings its validation raised."""

from __future__ import annotations

from typing import Any

from mlops.cli import render
from mlops.console import charts
from mlops.console.app import Context, Page, Route, Section
from mlops.console.html import Html, badge, fields, h, join, link, pager, path, section, table, when
from mlops.entities import DatasetVersion, RawObject, StageRecord
from mlops.errors import NotFound

PAGE_SIZE = 25
_NAME = r"(?P<name>[^/]+)"


def index(ctx: Context, _: dict[str, str]) -> Page:
    names = ctx.registry.datasets.list_datasets()
    rows = []
    for name in names:
        versions, _cursor = ctx.registry.datasets.page_dataset_versions(name, limit=1)
        latest = versions[0] if versions else None
        rows.append(
            (
                link(path("datasets", name), name),
                link(path("datasets", name, "versions", latest.sha256), render.short_sha(latest.sha256))
                if latest
                else None,
                f"{latest.rows:,}" if latest else None,
                len(latest.columns) if latest else None,
                when(latest.uploaded_at) if latest else None,
            )
        )
    headers = ("Dataset", "Latest version", "Rows", "Columns", "Uploaded")
    return Page("Datasets", table(headers, rows, "Datasets and their latest version", "No datasets yet."))


def dataset(ctx: Context, params: dict[str, str]) -> Page:
    name = params["name"]
    config = ctx.registry.datasets.find_config(name)
    versions, cursor = ctx.registry.datasets.page_dataset_versions(name, PAGE_SIZE, ctx.optional("after"))
    uploads = ctx.registry.datasets.list_raw_objects(name)
    if config is None and not versions and not uploads:
        raise NotFound(f"No dataset named '{name}'.")
    by_sha: dict[str, RawObject] = {u.sha256: u for u in uploads if u.sha256 and u.status == "ACCEPTED"}
    version_rows = [
        (
            link(
                path("datasets", name, "versions", v.sha256),
                render.short_sha(v.sha256),
                f"version {v.sha256[:12]}",
            ),
            f"{v.rows:,}",
            len(v.columns),
            v.raw.uri,
            when(v.uploaded_at),
            _run_link(by_sha.get(v.sha256)),
        )
        for v in versions
    ]
    upload_rows = [
        (u.raw.uri, badge(u.status), when(u.received_at), _run_link(u), u.reason)
        for u in sorted(uploads, key=lambda u: u.received_at, reverse=True)
    ]
    body = join(
        [
            fields(
                [
                    ("target", config.target if config else None),
                    ("task", config.task if config else None),
                    ("promotion metric", config.promotion_metric if config else None),
                ]
            ),
            section(
                "Versions",
                table(
                    ("Version", "Rows", "Columns", "Raw object", "Uploaded", "Run"),
                    version_rows,
                    f"Versions of {name}, newest first",
                    "No accepted version yet.",
                ),
                pager(path("datasets", name), cursor),
            ),
            section(
                "Uploads",
                table(
                    ("Object", "Outcome", "Received", "Run", "Reason"),
                    upload_rows,
                    f"Every upload to raw/{name}/ and what ingest made of it",
                    "No uploads yet.",
                ),
            ),
        ]
    )
    return Page(f"Dataset {name}", body)


def _run_link(upload: RawObject | None) -> Html | None:
    if upload is None or not upload.run_id:
        return None
    return link(path("runs", upload.run_id), upload.run_id)


def version(ctx: Context, params: dict[str, str]) -> Page:
    name, sha = params["name"], params["sha"]
    data = ctx.registry.datasets.get_dataset_version(name, sha)
    upload = next(
        (u for u in ctx.registry.datasets.list_raw_objects(name) if u.sha256 == sha and u.run_id), None
    )
    validation = (
        ctx.registry.runs.get_stage(upload.run_id, "validation") if upload and upload.run_id else None
    )
    body = join(
        [
            fields(
                [
                    ("sha256", data.sha256),
                    ("rows", f"{data.rows:,}"),
                    ("columns", len(data.columns)),
                    ("raw object", f"{data.raw.uri} (etag {data.raw.etag}, {render.size(data.raw.size)})"),
                    ("canonical copy", data.canonical.uri),
                    ("uploaded", when(data.uploaded_at)),
                    ("run", _run_link(upload)),
                ]
            ),
            section("Validation", validation_summary(validation), anchor="validation"),
            section("Profile", _profile(data), anchor="profile"),
        ]
    )
    return Page(f"{name} version {render.short_sha(sha)}", body)


def validation_summary(stage: StageRecord | None) -> Html:
    if stage is None:
        return Html('<p class="empty">No validation recorded for this version.</p>')
    summary = stage.summary
    checks = [c for c in summary.get("checks") or [] if isinstance(c, dict)]
    flagged = [c for c in checks if c.get("status") in ("warn", "fail")]
    verdict = "passed" if summary.get("passed") else "failed" if "passed" in summary else stage.status.lower()
    head = fields(
        [
            ("verdict", badge(verdict)),
            ("warnings", summary.get("warnings", 0)),
            ("failures", summary.get("failures", 0)),
            ("excluded from training", ", ".join(summary.get("excluded_columns") or []) or None),
            ("report", summary.get("report")),
            ("error", stage.error),
        ]
    )
    rows = [(badge(str(c.get("status"))), c.get("rule"), c.get("column"), c.get("message")) for c in flagged]
    return join(
        [
            head,
            table(
                ("Status", "Rule", "Column", "Message"),
                rows,
                "Validation warnings and failures",
                f"All {len(checks)} checks passed." if checks else "No checks recorded.",
            ),
        ]
    )


def _profile(data: DatasetVersion) -> Html:
    columns: dict[str, dict[str, Any]] = data.profile.get("columns", {})
    cards = []
    for column in data.columns:
        stats = columns.get(column, {})
        kind = str(stats.get("type") or data.column_types.get(column, "?"))
        chart = charts.quantile_histogram(column, stats) if "quantiles" in stats else None
        chart = chart or charts.category_bars(column, stats)
        missing = float(stats.get("missing_ratio") or 0.0)
        facts = [
            ("type", kind),
            ("missing", f"{int(stats.get('missing') or 0):,} ({missing:.1%})"),
            ("unique", f"{int(stats.get('unique') or 0):,}"),
        ]
        if stats.get("mean") is not None:
            facts += [
                ("min", render.number(float(stats["min"]))),
                ("mean", render.number(float(stats["mean"]))),
                ("max", render.number(float(stats["max"]))),
            ]
        meter = f'<meter min="0" max="1" value="{missing:.4f}" aria-label="{missing:.1%} missing"></meter>'
        cards.append(
            f'<article class="card"><h3>{h(column)}</h3>{fields(facts)}'
            f"{meter if missing else ''}{chart or ''}</article>"
        )
    return Html(f'<div class="cards">{"".join(cards)}</div>')


SECTION = Section(
    "Datasets",
    "/datasets",
    (
        Route("GET", "/datasets", index),
        Route("GET", f"/datasets/{_NAME}", dataset),
        Route("GET", f"/datasets/{_NAME}/versions/(?P<sha>[0-9a-f]{{64}})", version),
    ),
)
