"""Typed settings, one @dataclass(frozen=True, kw_only=True)
class per function, read once from the environment at cold start.

Classes are built by inheritance so shared names (the metadata table, the buckets) are declared once.
The environment variable of each field is its name upper-cased. The stack description
(``mlops.definition.description``) is what sets them, in the cloud and in the embedded stack alike; a test
checks that every field a function's settings require is set by the description.

Frozen dataclasses read by ``load_settings``, not pydantic models: the variables are flat text, and
importing pydantic was a large part of the inference function's cold start (docs/performance.md,
"Cold start"), which imports this module.
"""

from __future__ import annotations

import os
import typing
from dataclasses import MISSING, dataclass, field, fields
from functools import cache
from typing import Any, Literal, TypeVar


def _processing_min_bytes() -> int:
    """The stack description's threshold, read when an ingest settings object is made: importing the
    description costs every function's cold start."""
    from mlops.definition.description import PROCESSING_MIN_BYTES

    return PROCESSING_MIN_BYTES


@dataclass(frozen=True, kw_only=True)
class FunctionSettings:
    metadata_table: str
    stage_name: str = "dev"


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


SettingsT = TypeVar("SettingsT", bound=FunctionSettings)


@cache
def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Read a settings class from the environment once per process: each field from the variable of
    its name, in any case, converted to the field's type. A variable that is missing (for a field with
    no default) or does not convert raises ``ValueError`` naming it, in one sentence."""
    variables = {key.lower(): value for key, value in os.environ.items()}
    types = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for spec in fields(cls):
        text = variables.get(spec.name)
        if text is not None:
            values[spec.name] = _converted(spec.name, text, types[spec.name])
        elif spec.default is MISSING and spec.default_factory is MISSING:
            raise ValueError(
                f"The environment variable {spec.name.upper()} is not set; this function needs it."
            )
    return cls(**values)


def _converted(name: str, text: str, kind: Any) -> Any:
    if kind is str:
        return text
    if typing.get_origin(kind) is Literal:
        allowed = typing.get_args(kind)
        if text in allowed:
            return text
        raise ValueError(
            f"The environment variable {name.upper()} is '{text}', not one of {', '.join(allowed)}."
        )
    if kind in (int, float):
        try:
            return kind(text.strip())
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise ValueError(f"The environment variable {name.upper()} is '{text}', not {noun}.") from None
    raise TypeError(f"The settings field '{name}' has a type no environment variable converts to: {kind}.")
