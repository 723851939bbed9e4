"""Batch: the batch state machine's steps (plan, score, finalize, fail), on onnxruntime and pyarrow."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.batch.events import BatchStepEvent
from mlops.batch.service import BatchConfig, build_batch_deps, run_step
from mlops.observability import inject_context, metrics
from mlops.settings import BatchSettings, load_settings

settings = load_settings(BatchSettings)
config = BatchConfig(
    part_bytes=settings.batch_part_bytes,
    max_concurrency=settings.batch_max_concurrency,
    tolerated_failure_percentage=settings.batch_tolerated_failure_percentage,
    items_per_batch=settings.batch_items_per_batch,
)


@inject_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = parse(event=event, model=BatchStepEvent)
    deps = build_batch_deps(settings.metadata_table, settings.artifact_bucket)
    result = run_step(deps, config, step)
    if step.action in ("finalize", "fail"):
        succeeded = result.get("status") == "SUCCEEDED"
        metrics.add_metric(
            name="BatchJobsSucceeded" if succeeded else "BatchJobsFailed", unit=MetricUnit.Count, value=1
        )
    if step.action == "score":
        metrics.add_metric(
            name="BatchRowsScored", unit=MetricUnit.Count, value=sum(p["rows_out"] for p in result["parts"])
        )
    return result
