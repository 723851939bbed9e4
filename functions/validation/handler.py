"""Validation: the dataset version against its config and earlier versions; writes the report.

For an upload past PROCESSING_MIN_BYTES it starts and polls the SageMaker Processing job that
ingests and validates it (the state machine's StartProcessing and CheckProcessing)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

import mlops.ml.validation  # noqa: F401  (the heavy ML stack loads in the init phase, not per invocation)
from mlops.observability import inject_context, invocation_keys, metrics, tracer
from mlops.pipeline.deps import build_deps
from mlops.pipeline.payload import RunPayload
from mlops.pipeline.processing import ingest_and_validate
from mlops.pipeline.validate import validate_run
from mlops.settings import ValidationSettings, load_settings

settings = load_settings(ValidationSettings)


@inject_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(event=event, model=RunPayload)
    invocation_keys(run_id=payload.run_id, dataset=payload.dataset)
    deps = build_deps(settings.metadata_table, settings.data_bucket, settings.artifact_bucket)
    if payload.ingest is not None:
        result = ingest_and_validate(deps, payload, settings)
    else:
        result = validate_run(deps, payload)
    if result.validation is not None:
        metrics.add_metric(name="DatasetsValidated", unit=MetricUnit.Count, value=1)
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)
