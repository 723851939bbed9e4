"""Batch: the batch state machine's steps (plan, score, finalize, fail) and the S3 trigger under batch/."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3Model
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.batch.events import BatchStepEvent
from mlops.batch.service import BatchConfig, build_batch_deps, run_step, start_from_upload
from mlops.observability import logger, metrics
from mlops.settings import BatchSettings, load_settings

settings = load_settings(BatchSettings)
config = BatchConfig(
    part_bytes=settings.batch_part_bytes,
    max_concurrency=settings.batch_max_concurrency,
    tolerated_failure_percentage=settings.batch_tolerated_failure_percentage,
    items_per_batch=settings.batch_items_per_batch,
)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = build_batch_deps(settings.metadata_table, settings.artifact_bucket)
    if "Records" in event:
        started = []
        for record in parse(event=event, model=S3Model).Records:
            obj = record.s3.object
            if obj is None:
                continue
            job_id = start_from_upload(
                deps, settings.batch_state_machine_arn, record.s3.bucket.name, obj.key, obj.eTag or ""
            )
            if job_id:
                metrics.add_metric(name="BatchJobsStarted", unit=MetricUnit.Count, value=1)
                started.append(job_id)
        return {"started": started}
    step = parse(event=event, model=BatchStepEvent)
    result = run_step(deps, config, step)
    if step.action in ("finalize", "fail"):
        failed = result.get("status") != "SUCCEEDED"
        metrics.add_metric(
            name="BatchJobsFailed" if failed else "BatchJobsSucceeded", unit=MetricUnit.Count, value=1
        )
    return result
