"""Validation: the dataset version against its config and earlier versions; writes the report.

For an upload past PROCESSING_MIN_BYTES it starts and polls the SageMaker Processing job that
ingests and validates it (the state machine's StartProcessing and CheckProcessing)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

import mlops.ml.validation  # noqa: F401  (the heavy ML stack loads in the init phase, not per invocation)
from mlops.observability import instrumented, metrics
from mlops.pipeline.handlers import step_input, step_output
from mlops.pipeline.processing import ingest_and_validate
from mlops.pipeline.validate import validate_run
from mlops.processing_jobs import default_processing_jobs
from mlops.settings import ValidationSettings, load_settings

settings = load_settings(ValidationSettings)


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload, deps = step_input(event, settings, processing_job_service=default_processing_jobs())
    if payload.ingest is not None:
        result = ingest_and_validate(deps, payload, settings)
    else:
        result = validate_run(deps, payload)
    if result.validation is not None:
        metrics.add_metric(name="DatasetsValidated", unit=MetricUnit.Count, value=1)
    return step_output(result)
