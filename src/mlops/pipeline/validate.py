"""Validation stage: the dataset version against its config and the dataset's last accepted version.

The verdict is recorded on the version (accepted or rejected, with its warnings), so schema checks and
retraining only ever build on a version that passed, never on a rejected upload.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mlops.errors import ValidationFailed
from mlops.models import VersionVerdict
from mlops.pipeline.deps import Deps
from mlops.pipeline.payload import RunPayload, ValidationOutcome
from mlops.pipeline.stages import stage

if TYPE_CHECKING:
    from mlops.ml.validation import AcceptedSchema

MAX_RECORDED_WARNINGS = 20
MAX_SUMMARY_CHECKS = 50


def accepted_schema(deps: Deps, dataset: str, sha256: str) -> AcceptedSchema | None:
    """The schema of the last version accepted before this one (None when there is none)."""
    from mlops.ml.validation import AcceptedSchema

    found = deps.registry.latest_accepted_version(dataset, before=sha256)
    if found is None:
        return None
    version, verdict = found
    return AcceptedSchema(
        column_types=verdict.column_types or version.column_types,
        feature_columns=verdict.feature_columns or None,
        target=verdict.target,
    )


def validate_run(deps: Deps, payload: RunPayload) -> RunPayload:
    from mlops.ml import dataset as ds
    from mlops.ml.validation import validate

    with stage(deps.registry, payload.run_id, "validation") as log:
        revision = deps.registry.config_revision(payload.dataset, payload.config_revision)
        config = revision.config
        version = deps.registry.get_dataset_version(payload.dataset, payload.dataset_version)
        frame = ds.read_parquet_bytes(deps.storage.get_verified(version.canonical))
        previous = accepted_schema(deps, payload.dataset, payload.dataset_version)
        report = validate(frame, config, previous)
        key = f"reports/validation/{payload.dataset}/{payload.run_id}.json"
        ref = deps.storage.put(
            deps.artifact_bucket, key, report.model_dump_json(indent=2).encode(), "application/json"
        )
        warnings = [c.message for c in report.checks if c.status == "warn"]
        deps.registry.put_verdict(
            VersionVerdict(
                dataset=payload.dataset,
                sha256=payload.dataset_version,
                status="accepted" if report.passed else "rejected",
                run_id=payload.run_id,
                config_revision=revision.revision,
                reason=report.failure,
                warnings=warnings[:MAX_RECORDED_WARNINGS],
                column_types=report.column_types,
                feature_columns=list(report.feature_columns),
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
                    [
                        c.model_dump(mode="json")
                        for c in sorted(report.checks, key=lambda c: c.status == "pass")
                    ][:MAX_SUMMARY_CHECKS]
                )
            ),
        )
        if not report.passed:
            raise ValidationFailed(report.failure or "The dataset failed validation.")
    outcome = ValidationOutcome(
        passed=True,
        report_uri=ref.uri,
        feature_columns=list(report.feature_columns),
        excluded_columns=list(report.excluded_columns),
        rows=report.rows,
        warnings=len(warnings),
    )
    return payload.model_copy(update={"validation": outcome})
