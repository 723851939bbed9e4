"""Validation: the dataset version against its config and earlier versions; writes the report."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

import mlops.ml.validation  # noqa: F401  (the heavy ML stack loads in the init phase, not per invocation)
from mlops.observability import instrumented, metrics
from mlops.pipeline.handlers import step_input, step_output
from mlops.pipeline.validate import validate_run
from mlops.settings import PipelineSettings, load_settings

settings = load_settings(PipelineSettings)


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload, deps = step_input(event, settings)
    result = validate_run(deps, payload)
    metrics.add_metric(name="DatasetsValidated", unit=MetricUnit.Count, value=1)
    return step_output(result)
