"""Drift: captured traffic against the training baseline, on demand or on the drift tick."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.drift.events import DriftEvent
from mlops.drift.service import build_drift_deps, handle_event
from mlops.observability import instrumented
from mlops.settings import DriftSettings, load_settings

settings = load_settings(DriftSettings)
deps = build_drift_deps(settings)


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = parse(event={"event": event}, model=DriftEvent).event
    return handle_event(parsed, deps, settings)
