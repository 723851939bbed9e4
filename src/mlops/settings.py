"""Typed settings, one class per function, read once from the environment at cold start.

Classes are built by inheritance so shared names (the metadata table, the buckets) are declared once.
The environment variable of each field is its name upper-cased. The stack description
(``mlops.stack.description``) is what sets them, in the cloud and in the embedded stack alike; a test
checks that every field a function's settings require is set by the description.
"""

from __future__ import annotations

from functools import cache
from typing import Literal, TypeVar

from pydantic_settings import BaseSettings, SettingsConfigDict


class FunctionSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    metadata_table: str
    stage_name: str = "dev"


class PipelineSettings(FunctionSettings):
    data_bucket: str
    artifact_bucket: str


class IngestSettings(PipelineSettings):
    state_machine_arn: str
    max_upload_bytes: int = 2 * 1024**3


class TrainingSettings(PipelineSettings):
    training_backend: Literal["inline", "sagemaker"] = "inline"
    inline_max_rows: int = 500_000
    sagemaker_role_arn: str = ""
    sagemaker_image_uri: str = ""
    sagemaker_instance_type: str = "ml.m5.xlarge"
    sagemaker_max_runtime_s: int = 3600


class TriggerSettings(PipelineSettings):
    state_machine_arn: str


class InferenceSettings(FunctionSettings):
    artifact_bucket: str
    capture_stream: str = ""
    capture_sample_rate: float = 1.0
    alias_ttl_seconds: float = 30.0
    max_batch_rows: int = 10_000
    max_payload_bytes: int = 6 * 1024 * 1024
    powertools_metrics_namespace: str = "Mlops"
    variant_metrics_interval_seconds: float = 10.0


class PromotionSettings(PipelineSettings):
    rollout_state_machine_arn: str


class RolloutSettings(FunctionSettings):
    metrics_namespace: str


class DriftSettings(FunctionSettings):
    artifact_bucket: str
    capture_bucket: str
    state_machine_arn: str
    metrics_namespace: str
    notification_topic_arn: str = ""


SettingsT = TypeVar("SettingsT", bound=FunctionSettings)


@cache
def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Read a settings class from the environment once per process."""
    return cls()
