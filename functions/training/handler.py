"""Training: fits the pipeline inline, or starts / polls a SageMaker training job."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

import mlops.ml.training  # noqa: F401  (the heavy ML stack loads in the init phase, not per invocation)
from mlops.observability import instrumented, metrics
from mlops.pipeline.handlers import step_input, step_output
from mlops.pipeline.train import train_run
from mlops.settings import TrainingSettings, load_settings
from mlops.training_jobs import default_training_jobs

settings = load_settings(TrainingSettings)


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload, deps = step_input(event, settings, training_job_service=default_training_jobs())
    result = train_run(deps, payload, settings)
    if result.training and result.training.status == "Completed":
        metrics.add_metric(name="ModelsTrained", unit=MetricUnit.Count, value=1)
    return step_output(result)
