"""Failure recorder, reached by the state machine's Catch: the run ends FAILED with its stage and reason."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.observability import instrumented, metrics
from mlops.pipeline.failure import record_failure
from mlops.pipeline.handlers import step_input, step_output
from mlops.settings import PipelineSettings, load_settings

settings = load_settings(PipelineSettings)


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload, deps = step_input(event, settings)
    metrics.add_dimension(name="Stage", value=payload.failed_stage or "unknown")
    metrics.add_metric(name="RunsFailed", unit=MetricUnit.Count, value=1)
    return step_output(record_failure(deps, payload))
