"""Conversion: the trained pipeline to ONNX, with the parity gate against scikit-learn."""

from __future__ import annotations

from typing import Any

import skl2onnx  # noqa: F401  (mlops.ml.convert imports it only to convert, which this function does)
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

import mlops.ml.convert  # noqa: F401  (the heavy ML stack loads in the init phase, not per invocation)
from mlops.observability import instrumented, metrics
from mlops.pipeline.convert import convert_run
from mlops.pipeline.handlers import step_input, step_output
from mlops.settings import PipelineSettings, load_settings

settings = load_settings(PipelineSettings)


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload, deps = step_input(event, settings)
    result = convert_run(deps, payload)
    metrics.add_metric(name="ModelsConverted", unit=MetricUnit.Count, value=1)
    return step_output(result)
