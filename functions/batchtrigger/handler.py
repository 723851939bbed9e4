"""Batch trigger: an object put under batch/<model>/input/ starts a batch scoring job."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3Model
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.batch.submit import request_from_upload, start_job
from mlops.executions import default_execution_starter
from mlops.observability import inject_context, logger, metrics
from mlops.settings import BatchTriggerSettings, load_settings

settings = load_settings(BatchTriggerSettings)


@inject_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("Event") == "s3:TestEvent":
        return {"started": []}
    started = []
    for record in parse(event=event, model=S3Model).Records:
        obj = record.s3.object
        # Event keys are URL-encoded, as S3 sends them.
        key = unquote_plus(obj.key) if obj else ""
        request = request_from_upload(record.s3.bucket.name, key, obj.eTag or "") if obj else None
        if request is None:
            continue  # the jobs' own outputs, and anything else under batch/
        start_job(default_execution_starter(), settings.batch_state_machine_arn, request)
        logger.info("Batch job started", extra={"job_id": request.job_id, "input": request.input.uri})
        metrics.add_metric(name="BatchJobsStarted", unit=MetricUnit.Count, value=1)
        started.append(request.job_id)
    return {"started": started}
