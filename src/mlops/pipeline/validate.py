"""Validation stage: the dataset version against its config and the dataset's last accepted version.

The verdict is recorded on the version (accepted or rejected, with its warnings), so schema checks and
retraining only ever build on a version that passed, never on a rejected upload.
"""

from __future__ import annotations

import json
import tempfile
from typing import TYPE_CHECKING

from mlops.artifact_keys import validation_report_key
from mlops.entities import VersionVerdict
from mlops.errors import ValidationFailed
from mlops.pipeline.deps import Deps
from mlops.pipeline.payload import RunPayload, ValidationOutcome
from mlops.pipeline.stages import StageLog, stage
from mlops.records import fits_inline, version_schema

if TYPE_CHECKING:
    from mlops.entities import ConfigRevision
    from mlops.ml.validation import AcceptedSchema, ValidationReport

MAX_RECORDED_WARNINGS = 20
MAX_SUMMARY_CHECKS = 50


def accepted_schema(deps: Deps, dataset: str, sha256: str) -> AcceptedSchema | None:
    """The schema of the last version accepted before this one (None when there is none)."""
    from mlops.ml.validation import AcceptedSchema

    found = deps.registry.datasets.latest_accepted_version(dataset, before=sha256)
    if found is None:
        return None
    version, verdict = found
    column_types, features = verdict.column_types, verdict.feature_columns
    if not column_types and verdict.report is not None:  # too wide to keep inline: the verified report
        document = json.loads(deps.storage.get_verified(verdict.report))
        column_types, features = document["column_types"], document["feature_columns"]
    return AcceptedSchema(
        column_types=column_types or version_schema(deps.storage, version),
        feature_columns=features or None,
        target=verdict.target,
    )


def validate_run(deps: Deps, payload: RunPayload) -> RunPayload:
    from mlops.ml.validation_stream import validate_parquet

    with stage(deps.registry.runs, payload.run_id, "validation") as log:
        revision = deps.registry.datasets.config_revision(payload.dataset, payload.config_revision)
        version = deps.registry.datasets.get_dataset_version(payload.dataset, payload.dataset_version)
        previous = accepted_schema(deps, payload.dataset, payload.dataset_version)
        # The canonical copy goes to local disk as it is verified, then is read a batch at a time, so
        # memory stays bounded whatever its size.
        with tempfile.TemporaryFile() as canonical:
            deps.storage.download_verified(version.canonical, canonical)
            canonical.seek(0)
            report = validate_parquet(canonical, revision.config, previous)
        outcome = record_validation(deps, payload, revision, report, log)
    return payload.model_copy(update={"validation": outcome})


def record_validation(
    deps: Deps, payload: RunPayload, revision: ConfigRevision, report: ValidationReport, log: StageLog
) -> ValidationOutcome:
    """Store the report, put the verdict on the version, summarise the stage; a failing report raises
    ``ValidationFailed``. Shared by the function's own validation and the processing job's."""
    config = revision.config
    key = validation_report_key(payload.dataset, payload.run_id)
    ref = deps.storage.put(
        deps.artifact_bucket, key, report.model_dump_json(indent=2).encode(), "application/json"
    )
    warnings = [c.message for c in report.checks if c.status == "warn"]
    schema_fits = fits_inline({"types": report.column_types, "features": report.feature_columns})
    deps.registry.datasets.put_verdict(
        VersionVerdict(
            dataset=payload.dataset,
            sha256=payload.dataset_version,
            status="accepted" if report.passed else "rejected",
            run_id=payload.run_id,
            config_revision=revision.revision,
            reason=report.failure,
            warnings=warnings[:MAX_RECORDED_WARNINGS],
            column_types=report.column_types if schema_fits else {},
            feature_columns=list(report.feature_columns) if schema_fits else [],
            report=ref,
            target=config.target,
        )
    )
    log.summary.update(
        passed=report.passed,
        report=ref.uri,
        report_sha256=ref.sha256,
        config_revision=revision.revision,
        rows=report.rows,
        warnings=len(warnings),
        failures=sum(1 for c in report.checks if c.status == "fail"),
        excluded_columns=report.excluded_columns,
        # What a reader needs first: warnings and failures, then passes, within the item's bound.
        checks=json.loads(
            json.dumps(
                [c.model_dump(mode="json") for c in sorted(report.checks, key=lambda c: c.status == "pass")][
                    :MAX_SUMMARY_CHECKS
                ]
            )
        ),
    )
    if not report.passed:
        raise ValidationFailed(report.failure or "The dataset failed validation.")
    return ValidationOutcome(
        passed=True,
        report_uri=ref.uri,
        feature_columns=list(report.feature_columns),
        excluded_columns=list(report.excluded_columns),
        rows=report.rows,
        warnings=len(warnings),
    )
