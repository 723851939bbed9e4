"""Typed settings, one class per function, read once from the environment at cold start.

Classes are built by inheritance so shared names (the metadata table, the buckets) are declared once.
The environment variable of each field is its name upper-cased. The stack description
(``mlops.definition.description``) is what sets them, in the cloud and in the embedded stack alike; a test
checks that every field a function's settings require is set by the description.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field


def _processing_min_bytes() -> int:
    """The stack description's threshold, read when an ingest settings object is made: importing the
    description costs every function's cold start."""
    from mlops.definition.description import PROCESSING_MIN_BYTES

    return PROCESSING_MIN_BYTES


class FunctionSettings(BaseModel):
    # Built when a function first reads its settings: each function reads one class of the dozen.
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    metadata_table: str
    stage_name: str = "dev"


class PipelineSettings(FunctionSettings):
    data_bucket: str
    artifact_bucket: str


class IngestSettings(PipelineSettings):
    state_machine_arn: str
    max_upload_bytes: int = 2 * 1024**3
    processing_min_bytes: int = Field(default_factory=_processing_min_bytes)


class ValidationSettings(PipelineSettings):
    """Validation, and the processing job that ingests and validates uploads past a function's reach."""

    sagemaker_role_arn: str = ""
    sagemaker_image_uri: str = ""
    processing_instance_type: str = "ml.m5.4xlarge"
    processing_volume_gb: int = 30
    processing_max_runtime_s: int = 3600


class TrainingSettings(PipelineSettings):
    training_backend: Literal["inline", "sagemaker"] = "inline"
    inline_max_rows: int = 500_000
    sagemaker_role_arn: str = ""
    sagemaker_image_uri: str = ""
    sagemaker_instance_type: str = "ml.m5.xlarge"
    sagemaker_max_runtime_s: int = 3600


class TriggerSettings(PipelineSettings):
    state_machine_arn: str


class ReconcileSettings(TriggerSettings):
    """The trigger's settings: it looks up the executions of the runs the trigger starts."""


class InferenceSettings(FunctionSettings):
    artifact_bucket: str
    capture_stream: str = ""
    capture_sample_rate: float = 1.0
    # The capture spool the function writes and the capture extension ships (mlops.serving.spool).
    capture_spool_dir: str = "/tmp/mlops-capture"
    capture_flush_interval_s: float = 1.0
    alias_ttl_seconds: float = 30.0
    max_batch_rows: int = 10_000
    max_payload_bytes: int = 6 * 1024 * 1024
    powertools_metrics_namespace: str = "Mlops"
    variant_metrics_interval_seconds: float = 10.0


class PromotionSettings(PipelineSettings):
    rollout_state_machine_arn: str


class RolloutSettings(FunctionSettings):
    metrics_namespace: str
    capture_bucket: str
    artifact_bucket: str


class DriftSettings(FunctionSettings):
    artifact_bucket: str
    capture_bucket: str
    state_machine_arn: str
    metrics_namespace: str
    notification_topic_arn: str = ""


class BatchSettings(FunctionSettings):
    artifact_bucket: str
    batch_part_bytes: int = 64 * 1024 * 1024
    batch_max_concurrency: int = 10
    batch_tolerated_failure_percentage: float = 0.0
    batch_items_per_batch: int = 4


class BatchTriggerSettings(FunctionSettings):
    batch_state_machine_arn: str


SettingsT = TypeVar("SettingsT", bound=FunctionSettings)


@cache
def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Read a settings class from the environment once per process: each field from the variable of
    its name, in any case (pydantic validates and converts the text). A plain model rather than
    pydantic-settings, whose sources and machinery would lengthen the inference function's cold start
    for the flat variables read here (docs/performance.md, "Figures behind design choices")."""
    variables = {key.lower(): value for key, value in os.environ.items()}
    return cls.model_validate({name: variables[name] for name in cls.model_fields if name in variables})
