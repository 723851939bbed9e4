"""Drift: each feature's statistic over the model's evaluations, and the HTML report of each one.

The per-feature history comes from the evaluations' JSON reports (one S3 read each, in parallel,
for the latest ``HISTORY`` evaluations); the HTML report is served as stored and embedded in a
sandboxed frame, so its markup cannot run anything in the console.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from mlops.cli import render
from mlops.console import charts
from mlops.console.app import BadRequest, Context, Page, Response, Route, Section
from mlops.console.html import Html, attr, badge, fields, h, join, link, path, section, table, when
from mlops.entities import DriftSummary
from mlops.errors import NotFound

HISTORY = 30
_READERS = 8
REPORT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'self'"
)


def verdict(summary: DriftSummary) -> Html:
    return badge("drift" if summary.drift_detected else summary.verdict.replace("_", " "))


def index(ctx: Context, _: dict[str, str]) -> Page:
    rows = []
    for name in sorted(ctx.registry.models.model_version_counts()):
        latest = ctx.registry.drift.recent_drift_summaries(name, limit=1)
        last = latest[0] if latest else None
        rows.append(
            (
                link(path("drift", name), name),
                verdict(last) if last else "never evaluated",
                f"v{last.version}" if last else None,
                when(last.evaluated_at) if last else None,
                ", ".join(last.drifted_features) if last else None,
            )
        )
    headers = ("Model", "Last verdict", "Version", "Evaluated", "Drifted features")
    return Page("Drift", table(headers, rows, "Each model's latest drift evaluation", "No models yet."))


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise NotFound(f"{uri} is not an S3 object.")
    return bucket, key


def _features(ctx: Context, summary: DriftSummary) -> dict[str, dict[str, Any]]:
    try:
        document = json.loads(ctx.sources.storage.get(*_split(summary.report_uri)))
    except NotFound:
        return {}  # a report removed by a lifecycle rule: the summary still shows
    features = document.get("features")
    return features if isinstance(features, dict) else {}


def show(ctx: Context, params: dict[str, str]) -> Page:
    name = params["name"]
    summaries = ctx.registry.drift.recent_drift_summaries(name, HISTORY)
    if not summaries and not ctx.registry.models.list_model_versions(name):
        raise NotFound(f"No model named '{name}'.")
    ordered = sorted(summaries, key=lambda s: s.evaluated_at)
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        reports = list(pool.map(lambda s: _features(ctx, s), ordered))
    score = charts.Series("drift score")
    for s in ordered:
        score.points.append((s.evaluated_at.timestamp(), s.score))
        score.flagged.append(s.drift_detected)
        score.notes.append(f"v{s.version}, {s.rows:,} rows")
    names = sorted({f for report in reports for f in report})
    cards = []
    for feature in names:
        one = charts.Series(feature)
        threshold = None
        for s, report in zip(ordered, reports, strict=True):
            stats = report.get(feature) or {}
            if stats.get("statistic") is None:
                continue
            one.points.append((s.evaluated_at.timestamp(), float(stats["statistic"])))
            one.flagged.append(bool(stats.get("drift")))
            one.notes.append("drift" if stats.get("drift") else "no drift")
            threshold = float(stats.get("threshold") or 0.0) or threshold
        test = next((str(r[feature].get("test")) for r in reports if feature in r), "")
        measure = "Kolmogorov-Smirnov statistic" if test == "ks" else "Jensen-Shannon distance"
        chart = charts.line_chart(
            [one],
            f"{measure} of {feature} per evaluation (drift in red, threshold dashed)",
            "time",
            threshold=threshold,
            width=420,
            height=170,
        )
        cards.append(
            f'<article class="card"><h3>{h(feature)}</h3><p class="muted">{h(measure)}</p>{chart}</article>'
        )
    rows = [
        (
            link(
                path("drift", name, "reports", s.evaluated_at.isoformat()), render.timestamp(s.evaluated_at)
            ),
            f"v{s.version}",
            verdict(s),
            f"{s.rows:,}",
            render.number(s.score),
            ", ".join(s.drifted_features) or None,
        )
        for s in sorted(summaries, key=lambda s: s.evaluated_at, reverse=True)
    ]
    body = join(
        [
            section(
                "Drift score",
                charts.line_chart(
                    [score],
                    f"Drift score of {name} per evaluation (drift at 1)",
                    "time",
                    threshold=1.0,
                )
                if summaries
                else Html(
                    '<p class="empty">Never evaluated: run `mlops drift run` or wait for the schedule.</p>'
                ),
            ),
            section("Features", Html(f'<div class="cards">{"".join(cards)}</div>')) if cards else Html(""),
            section(
                "Evaluations",
                table(
                    ("Evaluated", "Version", "Verdict", "Rows", "Score", "Drifted features"),
                    rows,
                    f"The latest {HISTORY} evaluations, newest first",
                    "No evaluation yet.",
                ),
            ),
        ]
    )
    return Page(f"Drift of {name}", body)


def _summary(ctx: Context, params: dict[str, str]) -> DriftSummary:
    try:
        at = datetime.fromisoformat(params["at"])
    except ValueError:
        raise BadRequest(f"'{params['at']}' is not a time.") from None
    summary = ctx.registry.drift.find_drift_summary(params["name"], at)
    if summary is None:
        raise NotFound(f"No drift evaluation of '{params['name']}' at {params['at']}.")
    return summary


def report(ctx: Context, params: dict[str, str]) -> Page:
    summary = _summary(ctx, params)
    frame = path("drift", summary.model, "reports", params["at"], "html")
    body = join(
        [
            fields(
                [
                    (
                        "model",
                        link(
                            path("lineage", summary.model, summary.version),
                            f"{summary.model} v{summary.version}",
                        ),
                    ),
                    ("verdict", verdict(summary)),
                    ("rows", f"{summary.rows:,}"),
                    ("drifted features", ", ".join(summary.drifted_features) or "none"),
                    ("JSON report", summary.report_uri),
                ]
            ),
            Html(
                f'<iframe class="report" src="{attr(frame)}" sandbox="" '
                f'title="Drift report of {attr(summary.model)} v{summary.version}"></iframe>'
            )
            if summary.html_uri
            else Html('<p class="empty">This evaluation has no HTML report.</p>'),
        ]
    )
    return Page(f"Drift report: {summary.model} {render.timestamp(summary.evaluated_at)}", body)


def report_html(ctx: Context, params: dict[str, str]) -> Response:
    summary = _summary(ctx, params)
    if not summary.html_uri:
        raise NotFound("This evaluation has no HTML report.")
    body = ctx.sources.storage.get(*_split(summary.html_uri))
    return Response(
        200,
        body,
        headers={"Content-Security-Policy": REPORT_POLICY, "X-Content-Type-Options": "nosniff"},
    )


SECTION = Section(
    "Drift",
    "/drift",
    (
        Route("GET", "/drift", index),
        Route("GET", "/drift/(?P<name>[^/]+)", show),
        Route("GET", "/drift/(?P<name>[^/]+)/reports/(?P<at>[^/]+)", report),
        Route("GET", "/drift/(?P<name>[^/]+)/reports/(?P<at>[^/]+)/html", report_html),
    ),
)
