"""Ingest: S3 ObjectCreated under raw/<dataset>/ -> dataset version -> pipeline run."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3Model
from aws_lambda_powertools.utilities.typing import LambdaContext

import mlops.ml.csvstream  # noqa: F401  (the heavy ML stack loads in the init phase, not per invocation)
from mlops.executions import default_execution_starter
from mlops.observability import instrumented, logger, metrics
from mlops.pipeline.handlers import deps_from
from mlops.pipeline.ingest import ingest_object
from mlops.settings import IngestSettings, load_settings

settings = load_settings(IngestSettings)


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("Event") == "s3:TestEvent":
        logger.info("Ignoring s3:TestEvent", extra={"bucket": event.get("Bucket")})
        return {"outcomes": []}
    deps = deps_from(settings, execution_starter=default_execution_starter())
    outcomes = []
    for record in parse(event=event, model=S3Model).Records:
        obj = record.s3.object
        if obj is None:
            logger.info("Ignoring a record without an object", extra={"event": record.eventName})
            continue
        outcome = ingest_object(
            deps,
            settings.state_machine_arn,
            record.s3.bucket.name,
            obj.key,
            obj.eTag or "",
            int(obj.size or 0),
            version_id=obj.versionId,
            sequencer=obj.sequencer,
            max_bytes=settings.max_upload_bytes,
            processing_min_bytes=settings.processing_min_bytes,
        )
        logger.info("Ingested object", extra={"key": obj.key, **outcome.model_dump(exclude_none=True)})
        metrics.add_metric(name=f"Uploads{outcome.action.capitalize()}", unit=MetricUnit.Count, value=1)
        outcomes.append(outcome.model_dump())
    return {"outcomes": outcomes}
