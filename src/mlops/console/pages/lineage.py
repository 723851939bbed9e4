"""Lineage: one model version's graph, from the raw file to the drift reports.

The graph is drawn from ``mlops lineage``'s own document (``lineage_document``), so the console and
the CLI can never tell two stories.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlops.cli import render
from mlops.cli.commands.lineage import lineage_document
from mlops.console import charts
from mlops.console.app import BadRequest, Context, Page, Route, Section
from mlops.console.html import Html, h, join, link, path, section, table, when

_VERSIONS_LISTED = 10


def index(ctx: Context, _: dict[str, str]) -> Page:
    rows = []
    for name in sorted(ctx.registry.models.model_version_counts()):
        versions, _cursor = ctx.registry.models.page_model_versions(name, _VERSIONS_LISTED)
        links = join([link(path("lineage", name, m.version), f"v{m.version}") for m in versions], " ")
        rows.append((name, links))
    return Page(
        "Lineage",
        table(("Model", "Versions (newest first)"), rows, "Pick a model version", "No models yet."),
    )


def _chain(doc: dict[str, Any]) -> list[charts.Node]:
    model = doc["model"]
    data, raw, report, run = doc["dataset_version"], doc["raw_object"], doc["validation_report"], doc["run"]
    nodes = []
    if raw is not None:
        nodes.append(charts.Node("raw file", raw["key"].rsplit("/", 1)[-1], f"etag {raw['etag']}"))
    rows = f"{data['rows']:,} rows" if "rows" in data else "record not found"
    nodes.append(
        charts.Node(
            "dataset version",
            render.short_sha(data["sha256"]),
            rows,
            path("datasets", data["dataset"], "versions", data["sha256"]) if "rows" in data else None,
        )
    )
    if report is not None:
        summary = report["summary"]
        passed = bool(summary.get("passed"))
        warnings = render.plural(int(summary.get("warnings") or 0), "warning")
        nodes.append(
            charts.Node(
                "validation report",
                "passed" if passed else "failed",
                warnings,
                path("datasets", data["dataset"], "versions", data["sha256"]) + "#validation",
                "ok" if passed else "bad",
            )
        )
    tone = {"SUCCEEDED": "ok", "FAILED": "bad"}.get(str(run.get("status")), "plain")
    nodes.append(
        charts.Node("run", run["run_id"], str(run.get("trigger", "")), path("runs", run["run_id"]), tone)
    )
    status = "production" if model["production"] else model["status"]
    nodes.append(
        charts.Node(
            "model version", f"{model['name']} v{model['version']}", status, path("models", model["name"])
        )
    )
    return nodes


def _branches(doc: dict[str, Any]) -> list[tuple[str, list[charts.Node]]]:
    name = doc["model"]["name"]
    artifacts = [
        charts.Node("artifact", key, f"{render.size(ref['size'])}, sha256 {ref['sha256'][:10]}")
        for key, ref in doc["artifacts"].items()
    ]
    deployments = [
        charts.Node(
            e["action"],
            f"v{e['from_version']} → v{e['version']}" if e["from_version"] else f"→ v{e['version']}",
            render.timestamp(e["at"]),
            path("models", name),
        )
        for e in doc["deployments"]
    ]
    drift = [
        charts.Node(
            "drift report",
            "DRIFT" if d["drift_detected"] else d["verdict"].replace("_", " "),
            render.timestamp(d["evaluated_at"]),
            path("drift", name, "reports", d["evaluated_at"]),
            "bad" if d["drift_detected"] else "ok",
        )
        for d in doc["drift_reports"]
    ]
    return [("artifacts", artifacts), ("deployments", deployments), ("drift reports", drift)]


def show(ctx: Context, params: dict[str, str]) -> Page:
    name = params["name"]
    try:
        version = int(params["version"])
    except ValueError:
        raise BadRequest(f"'{params['version']}' is not a version number.") from None
    doc = lineage_document(ctx.registry, name, version)
    graph = charts.lineage_graph(
        _chain(doc), _branches(doc), f"Lineage of {name} v{version}: raw file to drift reports"
    )
    artifacts = table(
        ("Artifact", "URI", "sha256", "Size"),
        [(k, a["uri"], a["sha256"], render.size(a["size"])) for k, a in doc["artifacts"].items()],
        "Artifacts of this version",
    )
    drift = table(
        ("Evaluated", "Verdict", "Rows", "Drifted features", "Report"),
        [
            (
                when(datetime.fromisoformat(d["evaluated_at"])),
                d["verdict"],
                d["rows"],
                ", ".join(d["drifted_features"]),
                link(path("drift", name, "reports", d["evaluated_at"]), "open report"),
            )
            for d in doc["drift_reports"]
        ],
        "Drift reports of this version",
        "No drift report for this version.",
    )
    raw = doc["raw_object"]
    body = join(
        [
            Html(f'<div class="graph">{graph}</div>'),
            section(
                "Raw file",
                Html(f"<p>{h(raw['uri'])} (etag {h(raw['etag'])})</p>")
                if raw
                else Html('<p class="empty">Not found.</p>'),
            ),
            section("Artifacts", artifacts),
            section("Drift reports", drift),
        ]
    )
    return Page(f"Lineage of {name} v{version}", body)


SECTION = Section(
    "Lineage",
    "/lineage",
    (Route("GET", "/lineage", index), Route("GET", "/lineage/(?P<name>[^/]+)/(?P<version>[^/]+)", show)),
)
