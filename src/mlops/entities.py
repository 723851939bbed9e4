"""Records kept in the metadata table. Pure pydantic (the inference function imports these)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mlops.bounds import bound_document, bound_message
from mlops.config import DatasetConfig
from mlops.signature import Signature

Trigger = Literal["upload", "schedule", "drift", "manual"]
# ABORTED: the run's execution ended (aborted, timed out, a runtime error) or vanished without the
# pipeline recording the run's end; reconciliation ends it (mlops.pipeline.reconcile).
RunStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "ABORTED"]
# Reasons quote user input (a column name, a value); a record holds their first 2,000 characters.
Message = Annotated[str, AfterValidator(bound_message)]
# Summaries whose size follows the data (checks, feature lists): 100 items, 1,024 characters per text.
Summary = Annotated[dict[str, Any], AfterValidator(bound_document)]
ModelStatus = Literal["candidate", "pending_approval", "production", "archived", "rejected", "rolled_back"]
# What moved (or touched) the production alias: the pipeline, a person, or a rollout step.
AliasAction = Literal["promote", "rollback", "manual", "approve", "canary", "shadow", "abort"]
RolloutStatus = Literal["running", "completed", "rolled_back", "aborted"]
TrainingBackend = Literal["inline", "sagemaker"]
TrainingStatus = Literal["Completed", "InProgress"]
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
    reason: Message | None = None
    config_revision: int | None = None
    received_at: datetime = Field(default_factory=utcnow)
    # Deliveries that failed unexpectedly, and the last failure (what `upload --wait` reports).
    attempts: int = 0
    last_error: Message | None = None


class DatasetVersion(Record):
    """A dataset version. Its item stays bounded whatever the table's shape: the profile lives in S3
    (``details``, with every column and type), and ``columns``/``column_types`` are inline only while
    they fit (``column_count`` says how many there are)."""

    dataset: str
    sha256: str
    rows: int
    columns: list[str]
    column_types: dict[str, str]
    profile: dict[str, Any] = Field(default_factory=dict)
    column_count: int | None = None
    details: ArtifactRef | None = None
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
    reason: Message | None = None
    warnings: list[Message] = Field(default_factory=list)
    # Inline while they fit the item's budget; otherwise empty, and read from the report.
    column_types: dict[str, str] = Field(default_factory=dict)
    feature_columns: list[str] = Field(default_factory=list)
    report: ArtifactRef | None = None
    target: str | None = None
    validated_at: datetime = Field(default_factory=utcnow)


class StageRecord(Record):
    name: StageName
    status: RunStatus
    started_at: datetime
    ended_at: datetime | None = None
    duration_s: float | None = None
    summary: Summary = Field(default_factory=dict)
    error: Message | None = None


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
    error: Message | None = None
    model_version: int | None = None
    promoted: bool = False
    decision: Message | None = None
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
    parity: Summary = Field(default_factory=dict)
    durations: dict[str, float] = Field(default_factory=dict)
    decision_reason: Message | None = None
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
    reason: Message | None = None
    actor: str | None = None  # the caller's AWS identity, for decisions made by a person
    candidate: int | None = None
    candidate_weight: float = 0.0


class Rollout(Record):
    """A gradual rollout of a candidate next to production (one active per model)."""

    rollout_id: str
    name: str
    version: int
    baseline: int | None
    strategy: Literal["canary", "shadow"] = "canary"
    # Shadow: production requests the candidate scores before the gate decides (0 for a canary).
    shadow_requests: int = 0
    status: RolloutStatus = "running"
    steps: list[int] = Field(default_factory=list)
    step: int = 0
    current_weight: float = 0.0
    bake_seconds: float = 600.0
    guardrails: dict[str, float] = Field(default_factory=dict)
    observed: dict[str, float] = Field(default_factory=dict)
    # Whether the ground-truth guardrail applied at the last check, and if not, why.
    ground_truth: Message | None = None
    started_at: datetime = Field(default_factory=utcnow)
    step_started_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)
    reason: Message | None = None
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
    drifted_features: Annotated[list[str], AfterValidator(bound_document)] = Field(
        default_factory=list, description="The first 100 (the report lists them all)."
    )
    report_uri: str
    html_uri: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
