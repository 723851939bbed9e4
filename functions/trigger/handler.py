"""Trigger: starts runs on a dataset's latest version (manual, scheduled, drift alarm)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.executions import default_execution_starter
from mlops.observability import instrumented, logger, metrics
from mlops.pipeline.events import TriggerEvent
from mlops.pipeline.handlers import deps_from
from mlops.pipeline.trigger import handle_trigger
from mlops.settings import TriggerSettings, load_settings

settings = load_settings(TriggerSettings)


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = parse(event={"event": event}, model=TriggerEvent).event
    deps = deps_from(settings, execution_starter=default_execution_starter())
    outcomes = handle_trigger(deps, settings.state_machine_arn, settings.stage_name, parsed)
    for outcome in outcomes:
        logger.info(outcome.reason, extra=outcome.model_dump())
        metrics.add_metric(
            name="RunsTriggered" if outcome.started else "TriggersSkipped", unit=MetricUnit.Count, value=1
        )
    return {"outcomes": [o.model_dump() for o in outcomes]}
