"""Reconcile: a run whose execution ended without recording it (stopped, timed out, runtime error, gone)
ends ABORTED with the reason. Input: Step Functions execution status changes, or a sweep request."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.execution_states import default_execution_states
from mlops.observability import instrumented, logger, metrics
from mlops.pipeline.events import ReconcileEvent
from mlops.pipeline.handlers import deps_from
from mlops.pipeline.reconcile import handle_reconcile
from mlops.settings import ReconcileSettings, load_settings

settings = load_settings(ReconcileSettings)


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = parse(event={"event": event}, model=ReconcileEvent).event
    deps = deps_from(settings, execution_reader=default_execution_states())
    outcomes = handle_reconcile(deps, settings.state_machine_arn, parsed)
    for outcome in outcomes:
        logger.info(outcome.reason, extra=outcome.model_dump())
    aborted = sum(1 for outcome in outcomes if outcome.action == "aborted")
    metrics.add_metric(name="RunsAborted", unit=MetricUnit.Count, value=aborted)
    return {"outcomes": [o.model_dump() for o in outcomes]}
