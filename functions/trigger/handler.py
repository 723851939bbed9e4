"""Trigger: starts runs on a dataset's latest version (manual, scheduled, drift alarm)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.executions import default_execution_starter
from mlops.observability import inject_context, logger, metrics, tracer
from mlops.pipeline.deps import build_deps
from mlops.pipeline.events import TriggerEvent
from mlops.pipeline.trigger import handle_trigger
from mlops.settings import TriggerSettings, load_settings

settings = load_settings(TriggerSettings)


@inject_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = parse(event={"event": event}, model=TriggerEvent).event
    deps = build_deps(
        settings.metadata_table,
        settings.data_bucket,
        settings.artifact_bucket,
        execution_starter=default_execution_starter(),
    )
    outcomes = handle_trigger(deps, settings.state_machine_arn, settings.stage_name, parsed)
    for outcome in outcomes:
        logger.info(outcome.reason, extra=outcome.model_dump())
        metrics.add_metric(
            name="RunsTriggered" if outcome.started else "TriggersSkipped", unit=MetricUnit.Count, value=1
        )
    return {"outcomes": [o.model_dump() for o in outcomes]}
