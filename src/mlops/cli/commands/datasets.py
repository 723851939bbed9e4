"""``mlops datasets list|show|config|configure|schema``: the dataset config as code, and its versions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mlops.cli import render
from mlops.cli.connection import Context
from mlops.cli.errors import EXIT_OK, CliError
from mlops.config import DatasetConfig
from mlops.configfile import config_diff, config_to_yaml, parse_config
from mlops.entities import ConfigRevision, ConfigSource, VersionVerdict
from mlops.errors import ConfigError
from mlops.pipeline.config_object import config_object_key
from mlops.registry import Registry

LIST_FIELDS = (
    "name",
    "target",
    "task",
    "versions",
    "latest_version",
    "production_version",
    "config_revision",
)


def dataset_row(registry: Registry, name: str) -> dict[str, Any]:
    """A dataset as ``datasets list --json`` prints it; versions are sha256s of dataset versions."""
    current = registry.datasets.current_config(name)
    versions = registry.datasets.list_dataset_versions(name)
    production = registry.models.get_production(name)
    return {
        "name": name,
        "target": current.config.target if current else None,
        "task": current.config.task if current else None,
        "versions": len(versions),
        "latest_version": versions[-1].sha256 if versions else None,
        "production_version": production.dataset_version if production else None,
        "config_revision": current.revision if current else None,
    }


def datasets_list(args: argparse.Namespace, ctx: Context) -> int:
    rows = [dataset_row(ctx.registry, name) for name in sorted(ctx.registry.datasets.list_datasets())]
    if args.json:
        ctx.say(render.to_json(rows))
        return EXIT_OK
    table = [
        (
            r["name"],
            r["target"],
            r["task"],
            r["versions"],
            render.short_sha(r["latest_version"]),
            render.short_sha(r["production_version"]),
            r["config_revision"],
        )
        for r in rows
    ]
    headers = ("NAME", "TARGET", "TASK", "VERSIONS", "LATEST", "PRODUCTION", "CONFIG")
    ctx.say(render.table(headers, table, empty="No datasets yet."))
    return EXIT_OK


def show_document(registry: Registry, name: str, data_bucket: str) -> dict[str, Any]:
    current = registry.datasets.current_config(name)
    versions = registry.datasets.list_dataset_versions(name)
    if current is None and not versions:
        raise CliError(f"No dataset named '{name}'.")
    verdicts = registry.datasets.list_verdicts(name)
    config_objects = registry.datasets.list_raw_objects_at(name, data_bucket, config_object_key(name))
    latest_object = max(config_objects, key=lambda r: r.received_at) if config_objects else None
    return {
        "name": name,
        "target": current.config.target if current else None,
        "task": current.config.task if current else None,
        "config_revision": current.revision if current else None,
        "config_revisions": [
            {
                "revision": r.revision,
                "source": r.source,
                "source_uri": r.source_uri,
                "created_at": r.created_at.isoformat(),
            }
            for r in registry.datasets.list_config_revisions(name)
        ],
        "config_object": None
        if latest_object is None
        else {
            "uri": latest_object.raw.uri,
            "etag": latest_object.raw.etag,
            "status": "refused" if latest_object.status == "REFUSED" else "applied",
            "config_revision": latest_object.config_revision,
            "reason": latest_object.reason,
            "received_at": latest_object.received_at.isoformat(),
        },
        "versions": [
            {
                "sha256": v.sha256,
                "rows": v.rows,
                "columns": len(v.columns),
                "uploaded_at": v.uploaded_at.isoformat(),
                "raw": v.raw.uri,
                "status": _status(verdict),
                "last_validation": verdict.status if verdict else None,
                "validated_with_config_revision": verdict.config_revision if verdict else None,
                "reason": verdict.reason if verdict else None,
                "warnings": verdict.warnings if verdict else [],
            }
            for v in reversed(versions)
            for verdict in [verdicts.get(v.sha256)]
        ],
    }


def _status(verdict: VersionVerdict | None) -> str:
    """accepted once any run's validation passed (what retraining and schema checks build on)."""
    if verdict is None:
        return "pending"
    return "accepted" if verdict.accepted_at is not None else "rejected"


def datasets_show(args: argparse.Namespace, ctx: Context) -> int:
    document = show_document(ctx.registry, args.name, ctx.outputs.data_bucket)
    if args.json:
        ctx.say(render.to_json(document))
        return EXIT_OK
    ctx.say(render_show(document))
    return EXIT_OK


def render_show(doc: dict[str, Any]) -> str:
    config_object = doc["config_object"]
    object_line = None
    if config_object is not None:
        object_line = f"{config_object['uri']} {config_object['status']}" + (
            f": {config_object['reason']}" if config_object["reason"] else ""
        )
    lines = [
        f"Dataset {doc['name']}",
        render.fields(
            [
                ("target", doc["target"]),
                ("task", doc["task"]),
                (
                    "config",
                    f"revision {doc['config_revision']}" if doc["config_revision"] is not None else None,
                ),
                ("config object", object_line),
            ]
        ),
        "",
        "Versions (newest first)",
    ]
    rows = [
        (
            render.short_sha(v["sha256"]),
            f"{v['rows']:,}",
            v["columns"],
            render.timestamp(v["uploaded_at"]),
            v["status"],
            len(v["warnings"]),
        )
        for v in doc["versions"]
    ]
    table = render.table(
        ("VERSION", "ROWS", "COLUMNS", "UPLOADED", "STATUS", "WARNINGS"), rows, empty="(none)"
    )
    lines.extend("  " + line for line in table.splitlines())
    for version in doc["versions"]:
        notes = ([version["reason"]] if version["reason"] else []) + version["warnings"]
        if notes:
            lines.append("")
            lines.append(f"  {render.short_sha(version['sha256'])}")
            lines.extend(f"    {note}" for note in notes)
    return "\n".join(lines)


def datasets_config(args: argparse.Namespace, ctx: Context) -> int:
    current = ctx.registry.datasets.current_config(args.name)
    if current is None:
        raise CliError(f"Dataset '{args.name}' has no config: create one with `mlops datasets configure`.")
    ctx.say(f"# dataset {args.name}, config revision {current.revision} ({current.source})")
    ctx.say(config_to_yaml(current.config).rstrip("\n"))
    return EXIT_OK


def read_config_file(path_text: str, overrides: dict[str, Any] | None = None) -> DatasetConfig:
    path = Path(path_text)
    if not path.is_file():
        raise CliError(f"{path} does not exist or is not a file.")
    try:
        return parse_config(path.read_bytes(), str(path), overrides)
    except ConfigError as error:
        raise CliError(str(error)) from error


def write_config(
    ctx: Context, name: str, config: DatasetConfig, source: ConfigSource, dry_run: bool = False
) -> ConfigRevision | None:
    """Print the diff against the current config and write the new revision (not on a dry run)."""
    current = ctx.registry.datasets.current_config(name)
    diff = config_diff(current.config if current else None, config, name)
    if not diff:
        ctx.note(f"No change: '{name}' stays at config revision {current.revision if current else 0}.")
        return current
    ctx.say(diff.rstrip("\n"))
    if dry_run:
        ctx.note("Dry run: nothing written.")
        return None
    revision = ctx.registry.datasets.put_config(name, config, source=source)
    ctx.note(f"Wrote config revision {revision.revision} of '{name}'.")
    return revision


def datasets_configure(args: argparse.Namespace, ctx: Context) -> int:
    config = read_config_file(args.file)
    write_config(ctx, args.name, config, "cli", dry_run=args.dry_run)
    return EXIT_OK


def datasets_schema(args: argparse.Namespace, ctx: Context) -> int:
    del args
    schema = DatasetConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "serverless-mlops dataset config"
    ctx.say(json.dumps(schema, indent=2))
    return EXIT_OK
