"""Training: fits the pipeline inline, or starts / polls a SageMaker training job."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

import mlops.ml.training  # noqa: F401  (the heavy ML stack loads in the init phase, not per invocation)
from mlops.observability import inject_context, invocation_keys, metrics, tracer
from mlops.pipeline.deps import build_deps
from mlops.pipeline.payload import RunPayload
from mlops.pipeline.train import train_run
from mlops.settings import TrainingSettings, load_settings
from mlops.training_jobs import default_training_jobs

settings = load_settings(TrainingSettings)


@inject_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(event=event, model=RunPayload)
    invocation_keys(run_id=payload.run_id, dataset=payload.dataset)
    deps = build_deps(
        settings.metadata_table,
        settings.data_bucket,
        settings.artifact_bucket,
        training_job_service=default_training_jobs(),
    )
    result = train_run(deps, payload, settings)
    if result.training and result.training.status == "Completed":
        metrics.add_metric(name="ModelsTrained", unit=MetricUnit.Count, value=1)
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)
