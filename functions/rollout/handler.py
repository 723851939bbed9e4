"""Rollout: the rollout machine's checks (arm, check; canary and shadow) and the candidate alarms' rollback."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.observability import instrumented, logger
from mlops.registry import Registry
from mlops.rollout_adapters import RolloutEvent, handle_event
from mlops.settings import RolloutSettings, load_settings
from mlops.shadow import CapturedEvidence

settings = load_settings(RolloutSettings)
registry = Registry(settings.metadata_table)
evidence = CapturedEvidence(registry, settings.capture_bucket)


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = parse(event={"event": event}, model=RolloutEvent).event
    result = handle_event(parsed, registry, settings, evidence)
    logger.info("Rollout step", extra={"rollout": result})  # "name" is a LogRecord attribute
    return result
