"""Typed settings, one class per function, read once from the environment at cold start.

Classes are built by inheritance so shared names (the metadata table, the buckets) are declared once.
The environment variable of each field is its name upper-cased. The stack description
(``mlops.definition.description``) is what sets them, in the cloud and in the embedded stack alike; a test
checks that every field a function's settings require is set by the description.

Frozen dataclasses read by ``load_settings`` (``mlops.function_settings``), not pydantic models: the
variables are flat text, and importing pydantic was a large part of the inference function's cold start
(docs/performance.md, "Cold start"). The inference function's class lives with serving
(``mlops.serving.settings``) and is imported alone there: building this module's dozen classes would
cost its cold start for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mlops.function_settings import FunctionSettings, load_settings
from mlops.serving.settings import InferenceSettings

__all__ = [
    "BatchSettings",
    "BatchTriggerSettings",
    "DriftSettings",
    "FunctionSettings",
    "InferenceSettings",
    "IngestSettings",
    "PipelineSettings",
    "PromotionSettings",
    "ReconcileSettings",
    "RolloutSettings",
    "TrainingSettings",
    "TriggerSettings",
    "ValidationSettings",
    "load_settings",
]


def _processing_min_bytes() -> int:
    """The stack description's threshold, read when an ingest settings object is made: importing the
    description costs every function's cold start."""
    from mlops.definition.description import PROCESSING_MIN_BYTES

    return PROCESSING_MIN_BYTES


@dataclass(frozen=True, kw_only=True)
class PipelineSettings(FunctionSettings):
    data_bucket: str
    artifact_bucket: str


@dataclass(frozen=True, kw_only=True)
class IngestSettings(PipelineSettings):
    state_machine_arn: str
    max_upload_bytes: int = 2 * 1024**3
    processing_min_bytes: int = field(default_factory=_processing_min_bytes)


@dataclass(frozen=True, kw_only=True)
class ValidationSettings(PipelineSettings):
    """Validation, and the processing job that ingests and validates uploads past a function's reach."""

    sagemaker_role_arn: str = ""
    sagemaker_image_uri: str = ""
    processing_instance_type: str = "ml.m5.4xlarge"
    processing_volume_gb: int = 30
    processing_max_runtime_s: int = 3600


@dataclass(frozen=True, kw_only=True)
class TrainingSettings(PipelineSettings):
    training_backend: Literal["inline", "sagemaker"] = "inline"
    inline_max_rows: int = 500_000
    sagemaker_role_arn: str = ""
    sagemaker_image_uri: str = ""
    sagemaker_instance_type: str = "ml.m5.xlarge"
    sagemaker_max_runtime_s: int = 3600


@dataclass(frozen=True, kw_only=True)
class TriggerSettings(PipelineSettings):
    state_machine_arn: str


@dataclass(frozen=True, kw_only=True)
class ReconcileSettings(TriggerSettings):
    """The trigger's settings: it looks up the executions of the runs the trigger starts."""


@dataclass(frozen=True, kw_only=True)
class PromotionSettings(PipelineSettings):
    rollout_state_machine_arn: str


@dataclass(frozen=True, kw_only=True)
class RolloutSettings(FunctionSettings):
    metrics_namespace: str
    capture_bucket: str
    artifact_bucket: str


@dataclass(frozen=True, kw_only=True)
class DriftSettings(FunctionSettings):
    artifact_bucket: str
    capture_bucket: str
    state_machine_arn: str
    metrics_namespace: str
    notification_topic_arn: str = ""


@dataclass(frozen=True, kw_only=True)
class BatchSettings(FunctionSettings):
    artifact_bucket: str
    batch_part_bytes: int = 64 * 1024 * 1024
    batch_max_concurrency: int = 10
    batch_tolerated_failure_percentage: float = 0.0
    batch_items_per_batch: int = 4


@dataclass(frozen=True, kw_only=True)
class BatchTriggerSettings(FunctionSettings):
    batch_state_machine_arn: str
