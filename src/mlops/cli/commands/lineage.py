"""``mlops lineage NAME VERSION``: where a model version came from and where it went.

raw object -> dataset version -> validation report -> run -> artifacts -> deployments -> drift reports,
and the batch jobs the version scored.
"""

from __future__ import annotations

import argparse
from typing import Any

from mlops.cli import render
from mlops.cli.connection import Context
from mlops.cli.describe import run_duration
from mlops.cli.errors import EXIT_OK
from mlops.entities import ArtifactRef
from mlops.errors import NotFound
from mlops.registry import Registry

_MAX_COLUMNS_SHOWN = 8


def _artifact(ref: ArtifactRef) -> dict[str, Any]:
    return {"uri": ref.uri, "sha256": ref.sha256, "size": ref.size}


def lineage_document(registry: Registry, name: str, version: int) -> dict[str, Any]:
    model = registry.models.get_model_version(name, version)
    alias = registry.models.get_alias(name)
    try:
        run = registry.runs.get_run(model.run_id)
    except NotFound:
        run = None
    dataset = run.dataset if run else name
    data = registry.datasets.find_dataset_version(dataset, model.dataset_version)
    validation = next((s for s in run.stages if s.name == "validation"), None) if run else None

    document: dict[str, Any] = {
        "model": {
            "name": model.name,
            "version": model.version,
            "status": model.status,
            "production": alias is not None and alias.version == model.version,
            "metrics": model.metrics,
            "created_at": model.created_at.isoformat(),
            "trained_at": model.trained_at.isoformat() if model.trained_at else None,
            "code_version": model.code_version,
            "decision_reason": model.decision_reason,
            "approval": model.approval.model_dump(mode="json") if model.approval else None,
        },
        "raw_object": None,
        "dataset_version": None,
        "config": None,
        "validation_report": None,
        "run": None,
        "artifacts": {key: _artifact(ref) for key, ref in sorted(model.artifacts.items())},
        "deployments": [
            e.model_dump(mode="json")
            for e in registry.models.alias_history(name)
            if version in (e.version, e.from_version, e.candidate)
        ],
        "drift_reports": [
            s.model_dump(mode="json", exclude={"model", "version"})
            for s in registry.drift.list_drift_summaries(name, version)
        ],
        "batch_jobs": [
            {
                "job_id": job.job_id,
                "status": job.status,
                "input_sha256": [i.sha256 for i in job.inputs],
                "rows_out": job.rows_out,
                "rows_failed": job.rows_failed,
                "output": job.output_uri,
                "created_at": job.created_at.isoformat(),
            }
            for job in registry.batch_jobs.for_version(name, version)
        ],
    }
    if data is not None:
        document["raw_object"] = {**data.raw.model_dump(mode="json"), "uri": data.raw.uri}
        document["dataset_version"] = {
            "dataset": data.dataset,
            "sha256": data.sha256,
            "rows": data.rows,
            "columns": data.columns,
            "column_count": data.column_count or len(data.columns),
            "uploaded_at": data.uploaded_at.isoformat(),
            "canonical": _artifact(data.canonical),
        }
        if data.details is not None:  # the profile, and every column when the record holds only some
            document["dataset_version"]["details"] = _artifact(data.details)
    else:
        document["dataset_version"] = {"dataset": dataset, "sha256": model.dataset_version}
    revision = run.config_revision if run else None
    if (
        revision is None
        and validation is not None
        and isinstance(validation.summary.get("config_revision"), int)
    ):
        revision = validation.summary["config_revision"]
    if revision is not None:
        try:
            used = registry.datasets.config_revision(dataset, revision)
            document["config"] = {
                "revision": used.revision,
                "source": used.source,
                "source_uri": used.source_uri,
                "created_at": used.created_at.isoformat(),
                "target": used.config.target,
                "task": used.config.task,
            }
        except NotFound:
            document["config"] = {"revision": revision}
    if validation is not None:
        summary = {
            k: v for k, v in validation.summary.items() if k not in ("report", "report_sha256", "checks")
        }
        document["validation_report"] = {
            "uri": validation.summary.get("report"),
            "sha256": validation.summary.get("report_sha256"),
            "summary": summary,
        }
    if run is not None:
        document["run"] = {
            "run_id": run.run_id,
            "config_revision": run.config_revision,
            "trigger": run.trigger,
            "status": run.status,
            "started_at": run.started_at.isoformat(),
            "ended_at": run.ended_at.isoformat() if run.ended_at else None,
            "duration_s": run_duration(run),
            "stages": {s.name: s.duration_s for s in run.stages},
            "decision": run.decision,
        }
    else:
        document["run"] = {"run_id": model.run_id}
    return document


def run_lineage(args: argparse.Namespace, ctx: Context) -> int:
    document = lineage_document(ctx.registry, args.name, args.version)
    ctx.say(render.to_json(document) if args.json else render.tree(lineage_tree(document)))
    return EXIT_OK


def lineage_tree(doc: dict[str, Any]) -> render.Node:
    model = doc["model"]
    status = "production" if model["production"] else model["status"]
    root = render.Node(f"{model['name']} v{model['version']}  {status}")
    if model["metrics"]:
        root.details.append(render.metrics(model["metrics"], limit=6))
    parent = root
    raw = doc["raw_object"]
    if raw is not None:
        where = [f"etag {raw['etag']}"]
        if raw.get("version_id"):
            where.append(f"version id {raw['version_id']}")
        where.append(render.size(raw["size"]))
        parent = parent.add(f"raw object  {raw['uri']}", [", ".join(where)])
    data = doc["dataset_version"]
    details = [f"sha256 {data['sha256']}"]
    if "rows" in data:
        columns, count = data["columns"], data["column_count"]
        shown = ", ".join(columns[:_MAX_COLUMNS_SHOWN]) + (", ..." if count > _MAX_COLUMNS_SHOWN else "")
        details.append(f"{data['rows']:,} rows, {count} columns: {shown}")
    else:
        details.append("(record not found)")
    parent = parent.add(f"dataset version  {data['dataset']} {render.short_sha(data['sha256'])}", details)
    config = doc.get("config")
    if config is not None:
        where = (
            [f"{config['source']}, {render.timestamp(config['created_at'])}"] if "source" in config else []
        )
        if config.get("source_uri"):
            where.append(config["source_uri"])
        if "target" in config:
            where.append(f"target {config['target']} ({config['task']})")
        parent = parent.add(f"config revision  {config['revision']}", where)
    report = doc["validation_report"]
    if report is not None:
        summary = report["summary"]
        verdict = "passed" if summary.get("passed") else "failed"
        counts = ", ".join(
            [
                verdict,
                render.plural(summary.get("warnings", 0), "warning"),
                render.plural(summary.get("failures", 0), "failure"),
            ]
        )
        lines = [counts] + ([f"sha256 {report['sha256']}"] if report.get("sha256") else [])
        parent = parent.add(f"validation report  {report['uri'] or '-'}", lines)
    run = doc["run"]
    if "status" in run:
        took = render.duration(run["duration_s"])
        run_node = parent.add(
            f"run  {run['run_id']}",
            [
                f"{run['trigger']}, {run['status']}, started {render.timestamp(run['started_at'])}, took {took}"
            ],
        )
    else:
        run_node = parent.add(f"run  {run['run_id']}", ["(record not found)"])
    artifacts = run_node.add("artifacts")
    for key, ref in doc["artifacts"].items():
        artifacts.add(f"{key}  {ref['uri']}", [f"sha256 {ref['sha256']}, {render.size(ref['size'])}"])
    deployments = run_node.add("deployments" if doc["deployments"] else "deployments  (never in production)")
    for event in doc["deployments"]:
        moved = (
            f"v{event['from_version']} -> v{event['version']}"
            if event["from_version"]
            else f"-> v{event['version']}"
        )
        if event.get("candidate"):
            moved += f" (candidate v{event['candidate']} at {event.get('candidate_weight', 0):g}%)"
        notes = [event["reason"]] if event.get("reason") else []
        if event.get("actor"):
            notes.append(f"by {event['actor']}")
        deployments.add(f"{render.timestamp(event['at'])}  {event['action']}  {moved}", notes)
    drift = run_node.add("drift reports" if doc["drift_reports"] else "drift reports  (none)")
    for report_doc in doc["drift_reports"]:
        verdict = "DRIFT" if report_doc["drift_detected"] else report_doc["verdict"].replace("_", " ")
        features = ", ".join(report_doc["drifted_features"])
        drift.add(
            f"{render.timestamp(report_doc['evaluated_at'])}  {verdict}  {render.plural(report_doc['rows'], 'row')}",
            [report_doc["report_uri"]] + ([f"drifted: {features}"] if features else []),
        )
    jobs = run_node.add("batch jobs" if doc["batch_jobs"] else "batch jobs  (none)")
    for job in doc["batch_jobs"]:
        jobs.add(
            f"{render.timestamp(job['created_at'])}  {job['job_id']}  {job['status']}",
            [f"{job['rows_out']:,} rows scored, {job['rows_failed']:,} failed -> {job['output']}"],
        )
    return root
