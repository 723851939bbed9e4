"""Records kept in the metadata table. Pure pydantic (the inference function imports these)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops.config import DatasetConfig
from mlops.signature import Signature

Trigger = Literal["upload", "schedule", "drift", "manual"]
RunStatus = Literal["RUNNING", "SUCCEEDED", "FAILED"]
ModelStatus = Literal["candidate", "pending_approval", "production", "archived", "rejected", "rolled_back"]
# What moved (or touched) the production alias: the pipeline, a person, or a rollout step.
AliasAction = Literal["promote", "rollback", "manual", "approve", "canary", "abort"]
RolloutStatus = Literal["running", "completed", "rolled_back", "aborted"]
StageName = Literal["ingest", "validation", "training", "conversion", "promotion"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Record(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


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
    """One uploaded object under raw/<dataset>/ and what ingest made of it.

    ``kind`` is ``config`` for a ``raw/<dataset>/mlops.yaml`` object: ACCEPTED with the config
    revision it wrote, or REFUSED with the reason.
    """

    dataset: str
    raw: RawObjectRef
    status: Literal["ACCEPTED", "DUPLICATE", "REFUSED"]
    kind: Literal["data", "config"] = "data"
    sha256: str | None = None
    run_id: str | None = None
    reason: str | None = None
    config_revision: int | None = None
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


ConfigSource = Literal["cli", "upload", "s3", "api"]


class ConfigRevision(Record):
    """One version of a dataset's config; runs record the revision they used."""

    dataset: str
    revision: int
    config: DatasetConfig
    source: ConfigSource = "api"
    source_uri: str | None = Field(default=None, description="The config object it came from, if any.")
    created_at: datetime = Field(default_factory=utcnow)


class VersionVerdict(Record):
    """What validation last said about a dataset version, and whether it ever passed.

    ``accepted_at`` is set the first time a run's validation passes and kept afterwards: schema checks
    compare with the last accepted version, and retraining trains it.
    """

    dataset: str
    sha256: str
    status: Literal["accepted", "rejected"]
    accepted_at: datetime | None = None
    run_id: str
    config_revision: int | None = None
    reason: str | None = None
    warnings: list[str] = Field(default_factory=list)
    column_types: dict[str, str] = Field(default_factory=dict)
    feature_columns: list[str] = Field(default_factory=list)
    target: str | None = None
    validated_at: datetime = Field(default_factory=utcnow)


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
    config_revision: int | None = None
    started_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    failed_stage: str | None = None
    error: str | None = None
    model_version: int | None = None
    promoted: bool = False
    decision: str | None = None
    execution_arn: str | None = None
    stages: list[StageRecord] = Field(default_factory=list)


class Decision(Record):
    """A person's approve or reject of a ``pending_approval`` candidate."""

    action: Literal["approve", "reject"]
    actor: str
    reason: str
    at: datetime = Field(default_factory=utcnow)


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
    approval: Decision | None = None
    created_at: datetime = Field(default_factory=utcnow)
    trained_at: datetime | None = None


class Alias(Record):
    """The production alias of a model: which version serves, and the revision guarding its moves."""

    name: str
    version: int
    revision: int
    previous_version: int | None = None
    updated_at: datetime = Field(default_factory=utcnow)
    action: AliasAction = "promote"
    run_id: str | None = None
    # During a canary: the candidate version and the percent of requests it answers. The inference
    # function routes on these; production (``version``) is unchanged until the rollout completes.
    candidate: int | None = None
    candidate_weight: float = 0.0


class AliasEvent(Record):
    name: str
    revision: int
    version: int
    from_version: int | None
    action: AliasAction
    at: datetime = Field(default_factory=utcnow)
    run_id: str | None = None
    reason: str | None = None
    actor: str | None = None  # the caller's AWS identity, for decisions made by a person
    candidate: int | None = None
    candidate_weight: float = 0.0


class Rollout(Record):
    """A gradual rollout of a candidate next to production (one active per model)."""

    rollout_id: str
    name: str
    version: int
    baseline: int | None
    strategy: Literal["canary"] = "canary"
    status: RolloutStatus = "running"
    steps: list[int] = Field(default_factory=list)
    step: int = 0
    current_weight: float = 0.0
    bake_seconds: float = 600.0
    guardrails: dict[str, float] = Field(default_factory=dict)
    observed: dict[str, float] = Field(default_factory=dict)
    started_at: datetime = Field(default_factory=utcnow)
    step_started_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)
    reason: str | None = None
    run_id: str | None = None
    actor: str | None = None
    execution_arn: str | None = None
    history: list[dict[str, Any]] = Field(default_factory=list)


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
