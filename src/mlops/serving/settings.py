"""The inference function's settings: imported alone, so its cold start builds one settings class, not
the dozen of ``mlops.settings`` (which re-exports this one)."""

from __future__ import annotations

from dataclasses import dataclass

from mlops.function_settings import FunctionSettings


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
