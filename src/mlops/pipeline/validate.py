"""Validation stage: the dataset version against its config and the dataset's earlier versions."""

from __future__ import annotations

import json

from mlops.errors import ValidationFailed
from mlops.pipeline.deps import Deps
from mlops.pipeline.payload import RunPayload, ValidationOutcome
from mlops.pipeline.stages import stage
from mlops.records import version_schema


def previous_schema(deps: Deps, dataset: str, sha256: str) -> dict[str, str] | None:
    """The column types of the version uploaded just before this one (None for the first)."""
    versions = deps.registry.list_dataset_versions(dataset)
    shas = [v.sha256 for v in versions]
    if sha256 not in shas:
        return version_schema(deps.storage, versions[-1]) if versions else None
    index = shas.index(sha256)
    return version_schema(deps.storage, versions[index - 1]) if index > 0 else None


def validate_run(deps: Deps, payload: RunPayload) -> RunPayload:
    from mlops.ml import dataset as ds
    from mlops.ml.validation import validate

    with stage(deps.registry, payload.run_id, "validation") as log:
        config = deps.registry.get_config(payload.dataset)
        version = deps.registry.get_dataset_version(payload.dataset, payload.dataset_version)
        frame = ds.read_parquet_bytes(deps.storage.get_verified(version.canonical))
        report = validate(frame, config, previous_schema(deps, payload.dataset, payload.dataset_version))
        key = f"reports/validation/{payload.dataset}/{payload.run_id}.json"
        ref = deps.storage.put(
            deps.artifact_bucket, key, report.model_dump_json(indent=2).encode(), "application/json"
        )
        warnings = sum(1 for c in report.checks if c.status == "warn")
        log.summary.update(
            passed=report.passed,
            report=ref.uri,
            report_sha256=ref.sha256,
            rows=report.rows,
            warnings=warnings,
            failures=sum(1 for c in report.checks if c.status == "fail"),
            excluded_columns=report.excluded_columns,
            checks=json.loads(json.dumps([c.model_dump(mode="json") for c in report.checks]))[:50],
        )
        if not report.passed:
            raise ValidationFailed(report.failure or "The dataset failed validation.")
    outcome = ValidationOutcome(
        passed=True,
        report_uri=ref.uri,
        feature_columns=list(report.feature_columns),
        excluded_columns=list(report.excluded_columns),
        rows=report.rows,
        warnings=warnings,
    )
    return payload.model_copy(update={"validation": outcome})
