"""The inference function's metrics (CloudWatch EMF through Powertools) and error logs.

One invocation serves one request, so the per-request dimensions (``model`` once the model is known,
``code`` on errors) hold for everything flushed at its end. Model names become a dimension only once
the model exists, so random names in requests cannot create metric series. The model version goes to
metadata (searchable in the logs) to keep the series per model, not per version. Telemetry is best
effort: a failure to record a metric is logged and never fails the request.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from mlops.observability import logger, metrics

PREDICTION_LATENCY = "PredictionLatency"
PREDICTED_ROWS = "PredictedRows"
UNSEEN_CATEGORIES = "UnseenCategories"
ERRORS = "Errors"
ARTIFACT_INTEGRITY_FAILURE = "ArtifactIntegrityFailure"
MODEL_LOAD_FAILURE = "ModelLoadFailure"
CAPTURED_ROWS = "CapturedRows"
CAPTURE_FAILURE = "CaptureFailure"


def _record(name: str, unit: MetricUnit, value: float, dimensions: dict[str, str]) -> None:
    try:
        for key, text in dimensions.items():
            metrics.add_dimension(name=key, value=text)
        metrics.add_metric(name=name, unit=unit, value=value)
    except Exception:  # metrics are best effort; the request goes on
        logger.warning("Could not record metric", extra={"metric": name}, exc_info=True)


# Units as their plain names: Powertools resolves a MetricUnit member more slowly than its value, and
# this runs on every prediction.
_MILLISECONDS = MetricUnit.Milliseconds.value
_COUNT = MetricUnit.Count.value


def prediction(model: str, version: int, rows: int, latency_ms: float, unseen: int) -> None:
    try:
        metrics.add_dimension(name="model", value=model)
        metrics.add_metric(name=PREDICTION_LATENCY, unit=_MILLISECONDS, value=latency_ms)
        metrics.add_metric(name=PREDICTED_ROWS, unit=_COUNT, value=rows)
        if unseen:
            metrics.add_metric(name=UNSEEN_CATEGORIES, unit=_COUNT, value=unseen)
        metrics.add_metadata(key="model_version", value=version)
    except Exception:  # metrics are best effort; the request goes on
        logger.warning("Could not record the prediction metrics", exc_info=True)


def error(code: str, status: int) -> None:
    _record(ERRORS, MetricUnit.Count, 1, {"code": code})
    if status >= 500:
        logger.warning("Request failed", extra={"code": code, "status": status})


def integrity_failure(model: str, version: int, reason: str) -> None:
    logger.error(
        "Refused a model artifact that does not match its recorded sha256",
        extra={"model": model, "version": version, "reason": reason},
    )
    _record(ARTIFACT_INTEGRITY_FAILURE, MetricUnit.Count, 1, {"model": model})


def model_loaded(model: str, version: int, seconds: float, size: int) -> None:
    logger.info(
        "Loaded a model version",
        extra={"model": model, "version": version, "load_seconds": round(seconds, 4), "onnx_bytes": size},
    )


def load_failure(model: str, version: int, reason: str) -> None:
    logger.error(
        "Could not load a model version", extra={"model": model, "version": version, "reason": reason}
    )
    _record(MODEL_LOAD_FAILURE, MetricUnit.Count, 1, {"model": model})


def captured(model: str, rows: int) -> None:
    # Captures follow a prediction, which has set the model dimension for this invocation already.
    _record(CAPTURED_ROWS, MetricUnit.Count, rows, {})


def capture_failure(model: str, reason: str) -> None:
    logger.warning("Could not capture a request", extra={"model": model, "reason": reason})
    _record(CAPTURE_FAILURE, MetricUnit.Count, 1, {"model": model})
