"""The document the state machine passes from stage to stage.

Each Lambda task receives the whole document (``Payload.$: "$"``) and returns it with its own section
filled in (``OutputPath: "$.Payload"``), so a run's state is visible in the execution history.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mlops.entities import TrainingBackend, TrainingStatus, Trigger


class StepError(BaseModel):
    """What a state's Catch puts at ``$.error``."""

    model_config = ConfigDict(populate_by_name=True)

    error: str = Field(default="Error", alias="Error")
    cause: str = Field(default="", alias="Cause")

    @property
    def message(self) -> str:
        """The one sentence to show: the Lambda error's message when the cause is its JSON."""
        try:
            cause = json.loads(self.cause)
        except (TypeError, ValueError):
            return self.cause or self.error
        if isinstance(cause, dict) and cause.get("errorMessage"):
            return str(cause["errorMessage"])
        return self.cause or self.error

    @property
    def error_type(self) -> str:
        try:
            cause = json.loads(self.cause)
        except (TypeError, ValueError):
            return self.error
        if isinstance(cause, dict) and cause.get("errorType"):
            return str(cause["errorType"])
        return self.error


class IngestRequest(BaseModel):
    """An upload the run ingests itself, as a SageMaker Processing job: set by the ingest function when
    the object is at least ``processing_min_bytes``, which the state machine's ``Route`` compares."""

    bucket: str
    key: str
    etag: str
    version_id: str | None = None
    size: int
    processing_min_bytes: int
    max_bytes: int


class ProcessingOutcome(BaseModel):
    status: str  # "InProgress" | "Completed"
    job_name: str


class ValidationOutcome(BaseModel):
    passed: bool
    report_uri: str
    feature_columns: list[str]
    excluded_columns: list[str]
    rows: int
    warnings: int = 0


class TrainingOutcome(BaseModel):
    status: TrainingStatus
    backend: TrainingBackend
    model_version: int | None = None
    job_name: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)


class ConversionOutcome(BaseModel):
    model_version: int
    onnx_sha256: str
    parity: dict[str, Any]


class PromotionOutcome(BaseModel):
    model_version: int
    promoted: bool
    decision: str
    production_version: int | None = None


class RunPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    run_id: str
    dataset: str
    dataset_version: str  # "" until a processing job has hashed the upload
    trigger: Trigger
    config_revision: int | None = None
    ingest: IngestRequest | None = None
    processing: ProcessingOutcome | None = None
    validation: ValidationOutcome | None = None
    training: TrainingOutcome | None = None
    conversion: ConversionOutcome | None = None
    promotion: PromotionOutcome | None = None
    failed_stage: str | None = None
    error: StepError | None = None


_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


_NAME_LIMIT = 80


def execution_name(run_id: str) -> str:
    """Step Functions execution names: 1-80 characters of [A-Za-z0-9_-]; deterministic and unique per run.

    A longer run id (a 64-character dataset name with its suffixes) keeps its start and ends with a
    digest of the whole id: cutting it would give two runs of one dataset the same execution.
    """
    safe = _NAME_UNSAFE.sub("_", run_id)
    if len(safe) <= _NAME_LIMIT and safe == run_id:
        return safe
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:16]
    return f"{safe[: _NAME_LIMIT - len(digest) - 1]}-{digest}"
