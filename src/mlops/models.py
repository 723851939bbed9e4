"""Records kept in the metadata table. Pure pydantic (the inference function imports these)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops.signature import Signature

Trigger = Literal["upload", "schedule", "drift", "manual"]
RunStatus = Literal["RUNNING", "SUCCEEDED", "FAILED"]
ModelStatus = Literal["candidate", "production", "archived", "rejected"]
StageName = Literal["ingest", "validation", "training", "conversion", "promotion"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Record(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)


class ArtifactRef(Record):
    bucket: str
    key: str
    sha256: str
    size: int

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class RawObjectRef(Record):
    bucket: str
    key: str
    etag: str
    version_id: str | None = None
    size: int
    sequencer: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class RawObject(Record):
    """One uploaded object under raw/<dataset>/ and what ingest made of it."""

    dataset: str
    raw: RawObjectRef
    status: Literal["ACCEPTED", "DUPLICATE", "REFUSED"]
    sha256: str | None = None
    run_id: str | None = None
    reason: str | None = None
    received_at: datetime = Field(default_factory=utcnow)


class DatasetVersion(Record):
    dataset: str
    sha256: str
    rows: int
    columns: list[str]
    column_types: dict[str, str]
    profile: dict[str, Any]
    canonical: ArtifactRef
    raw: RawObjectRef
    uploaded_at: datetime = Field(description="The raw object's LastModified: orders versions.")
    created_at: datetime = Field(default_factory=utcnow)


class StageRecord(Record):
    name: StageName
    status: RunStatus
    started_at: datetime
    ended_at: datetime | None = None
    duration_s: float | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class Run(Record):
    run_id: str
    dataset: str
    trigger: Trigger
    status: RunStatus = "RUNNING"
    dataset_version: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    failed_stage: str | None = None
    error: str | None = None
    model_version: int | None = None
    promoted: bool = False
    decision: str | None = None
    execution_arn: str | None = None
    stages: list[StageRecord] = Field(default_factory=list)


class ModelVersion(Record):
    name: str
    version: int
    status: ModelStatus = "candidate"
    task: Literal["classification", "regression"]
    metrics: dict[str, float] = Field(default_factory=dict)
    baseline_metrics: dict[str, float] = Field(default_factory=dict)
    dataset_version: str
    run_id: str
    artifacts: dict[str, ArtifactRef] = Field(default_factory=dict)
    signature: Signature | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    library_versions: dict[str, str] = Field(default_factory=dict)
    code_version: str = ""
    parity: dict[str, Any] = Field(default_factory=dict)
    durations: dict[str, float] = Field(default_factory=dict)
    decision_reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    trained_at: datetime | None = None


class Alias(Record):
    """The production alias of a model: which version serves, and the revision guarding its moves."""

    name: str
    version: int
    revision: int
    previous_version: int | None = None
    updated_at: datetime = Field(default_factory=utcnow)
    action: Literal["promote", "rollback", "manual"] = "promote"
    run_id: str | None = None


class AliasEvent(Record):
    name: str
    revision: int
    version: int
    from_version: int | None
    action: Literal["promote", "rollback", "manual"]
    at: datetime = Field(default_factory=utcnow)
    run_id: str | None = None
    reason: str | None = None


class DriftSummary(Record):
    model: str
    version: int
    evaluated_at: datetime = Field(default_factory=utcnow)
    rows: int
    verdict: Literal["drift", "no_drift", "insufficient_data"]
    drift_detected: bool
    score: float
    drifted_features: list[str] = Field(default_factory=list)
    report_uri: str
    html_uri: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
