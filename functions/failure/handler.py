"""Failure recorder, reached by the state machine's Catch: the run ends FAILED with its stage and reason."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.observability import inject_context, invocation_keys, metrics, tracer
from mlops.pipeline.deps import build_deps
from mlops.pipeline.failure import record_failure
from mlops.pipeline.payload import RunPayload
from mlops.settings import PipelineSettings, load_settings

settings = load_settings(PipelineSettings)


@inject_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(event=event, model=RunPayload)
    invocation_keys(run_id=payload.run_id, dataset=payload.dataset)
    deps = build_deps(settings.metadata_table, settings.data_bucket, settings.artifact_bucket)
    metrics.add_dimension(name="Stage", value=payload.failed_stage or "unknown")
    metrics.add_metric(name="RunsFailed", unit=MetricUnit.Count, value=1)
    return record_failure(deps, payload).model_dump(mode="json", by_alias=True, exclude_none=True)
