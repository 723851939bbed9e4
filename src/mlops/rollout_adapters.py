"""The rollout function's AWS side: the candidate's figures and alarms in CloudWatch."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from mlops import aws
from mlops.definition.description import ROLLOUT_ALARM_PREFIX
from mlops.entities import Rollout
from mlops.pipeline.events import AlarmStateChange
from mlops.registry import Registry
from mlops.rollouts import Observed, check, on_alarm
from mlops.settings import RolloutSettings
from mlops.shadow import CapturedEvidence
from mlops.variant_metrics import (
    CANDIDATE,
    ROLLOUT_ERROR_RATE,
    ROLLOUT_ERRORS,
    ROLLOUT_LATENCY_P99,
    ROLLOUT_REQUESTS,
    dimensions,
)

ALARM_KINDS = ("errors", "latency")


class CloudWatchVariantMetrics:
    """The candidate's figures as the inference function published them (``mlops.serving.routing``)."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def _points(
        self, name: str, metric: str, statistic: str, since: datetime, until: datetime
    ) -> list[float]:
        # One period over the whole window (CloudWatch wants a multiple of 60 s).
        seconds = max(60, math.ceil((until - since).total_seconds() / 60 + 1) * 60)
        found = aws.cloudwatch().get_metric_statistics(
            Namespace=self.namespace,
            MetricName=metric,
            Dimensions=dimensions(name, CANDIDATE),  # type: ignore[arg-type]
            StartTime=since - timedelta(seconds=1),
            EndTime=until + timedelta(seconds=1),
            Period=seconds,
            Statistics=[statistic],  # type: ignore[list-item]
        )
        return [float(point[statistic]) for point in found.get("Datapoints", [])]  # type: ignore[literal-required]

    def candidate(self, name: str, version: int, since: datetime, until: datetime) -> Observed:
        if until <= since:  # the step began this instant (or the clocks disagree): nothing yet
            return Observed(0, 0, None)
        requests = sum(self._points(name, ROLLOUT_REQUESTS, "Sum", since, until))
        errors = sum(self._points(name, ROLLOUT_ERRORS, "Sum", since, until))
        latencies = self._points(name, ROLLOUT_LATENCY_P99, "Maximum", since, until)
        return Observed(requests, errors, max(latencies) if latencies else None)


def alarm_name(prefix: str, model: str, kind: str) -> str:
    return f"{prefix}{model}-{kind}"


def model_of_alarm(prefix: str, alarm: str) -> str | None:
    """The model a candidate alarm watches (alarm names end in ``-errors`` or ``-latency``)."""
    if not alarm.startswith(prefix):
        return None
    rest = alarm[len(prefix) :]
    for kind in ALARM_KINDS:
        if rest.endswith(f"-{kind}"):
            return rest[: -len(kind) - 1] or None
    return None


class CloudWatchAlarms:
    """Two alarms per running canary, on the candidate's published figures; an ALARM state reaches the
    rollout function through the rollback rule and rolls the candidate back."""

    def __init__(self, namespace: str, prefix: str) -> None:
        self.namespace = namespace
        self.prefix = prefix

    def requests(self, rollout: Rollout) -> list[dict[str, Any]]:
        dims = dimensions(rollout.name, CANDIDATE)
        common = {
            "Namespace": self.namespace,
            "Dimensions": dims,
            "Statistic": "Maximum",
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
        }
        guardrails = rollout.guardrails
        return [
            {
                **common,
                "AlarmName": alarm_name(self.prefix, rollout.name, "errors"),
                "AlarmDescription": f"Canary of {rollout.name} v{rollout.version}: error rate above its guardrail.",
                "MetricName": ROLLOUT_ERROR_RATE,
                "Threshold": guardrails.get("max_error_rate", 0.01),
            },
            {
                **common,
                "AlarmName": alarm_name(self.prefix, rollout.name, "latency"),
                "AlarmDescription": f"Canary of {rollout.name} v{rollout.version}: p99 latency above its guardrail.",
                "MetricName": ROLLOUT_LATENCY_P99,
                "Threshold": guardrails.get("max_p99_latency_ms", 250.0),
            },
        ]

    def arm(self, rollout: Rollout) -> None:
        cloudwatch = aws.cloudwatch()
        for request in self.requests(rollout):
            cloudwatch.put_metric_alarm(**request)

    def disarm(self, name: str) -> None:
        names = [alarm_name(self.prefix, name, kind) for kind in ALARM_KINDS]
        cloudwatch = aws.cloudwatch()
        if cloudwatch.describe_alarms(AlarmNames=names).get("MetricAlarms"):
            cloudwatch.delete_alarms(AlarmNames=names)


class RolloutStep(BaseModel):
    """What the rollout machine's Tasks send."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["arm", "check"]
    name: str
    rollout_id: str


class RolloutEvent(BaseModel):
    event: RolloutStep | AlarmStateChange


def handle_event(
    event: RolloutStep | AlarmStateChange,
    registry: Registry,
    settings: RolloutSettings,
    evidence: CapturedEvidence | None = None,
) -> dict[str, Any]:
    """The rollout function: arm or check for the machine, roll back on a candidate alarm. ``evidence``
    (kept across invocations, so a shadow's ONNX sessions load once) judges shadows and ground truth."""
    alarms = CloudWatchAlarms(settings.metrics_namespace, ROLLOUT_ALARM_PREFIX.for_stage(settings.stage_name))
    if isinstance(event, AlarmStateChange):
        name = model_of_alarm(alarms.prefix, event.detail.alarm_name)
        if name is None or event.detail.state.value != "ALARM":
            return {"rolled_back": False}
        rolled = on_alarm(registry, name, event.detail.alarm_name, alarms)
        return {"rolled_back": bool(rolled and rolled.status == "rolled_back"), "name": name}
    if event.action == "arm":
        rollout = registry.models.get_rollout(event.name)
        running = (
            rollout is not None and rollout.rollout_id == event.rollout_id and rollout.status == "running"
        )
        if rollout is not None and running and rollout.strategy == "canary":
            alarms.arm(rollout)
    metrics = CloudWatchVariantMetrics(settings.metrics_namespace)
    evidence = evidence or CapturedEvidence(registry, settings.capture_bucket)
    return check(registry, metrics, event.name, event.rollout_id, alarms, evidence=evidence).as_dict()
