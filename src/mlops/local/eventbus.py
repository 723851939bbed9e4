"""EventBridge and CloudWatch behaviour moto leaves out: schedules fire, alarms evaluate, executions
report their end.

Every ``interval`` seconds the bus (1) fires each scheduled rule whose rate has elapsed, invoking its
Lambda targets with their constant input, (2) evaluates every CloudWatch alarm against the
metric data put into moto, sets its new state and, on a change, delivers a ``CloudWatch Alarm State
Change`` event to the rules whose patterns match it, and (3) delivers a ``Step Functions Execution
Status Change`` event for each execution that ended since the last tick, as EventBridge does in AWS.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops import aws
from mlops.config import parse_rate
from mlops.local.periodic import Periodic
from mlops.local.resources import ACCOUNT, REGION
from mlops.local.runtime import FunctionRuntime
from mlops.observability import logger

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _event(
    detail_type: str, source: str, resource: str, moment: datetime, detail: dict[str, Any]
) -> dict[str, Any]:
    """An EventBridge event as AWS delivers it to a rule's target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": _iso(moment),
        "region": REGION,
        "resources": [resource],
        "detail": detail,
    }


class EventBus:
    def __init__(self, runtime: FunctionRuntime, interval_s: float = 5.0) -> None:
        self.runtime = runtime
        self._last_fired: dict[str, datetime] = {}
        self._reported: set[str] = set()
        self._periodic = Periodic("local-eventbus", self.tick, interval_s, "Local event bus tick", 10)

    # ---- rules --------------------------------------------------------------------------------

    def _rules(self) -> list[dict[str, Any]]:
        events = aws.client("events")
        rules: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = events.list_rules(NextToken=token) if token else events.list_rules()
            rules.extend(page.get("Rules", []))
            token = page.get("NextToken")
            if not token:
                return [r for r in rules if r.get("State") == "ENABLED"]

    def _invoke_targets(self, rule: dict[str, Any], event: dict[str, Any]) -> list[str]:
        invoked = []
        for target in aws.client("events").list_targets_by_rule(Rule=rule["Name"]).get("Targets", []):
            name = self.runtime.logical_name(target["Arn"])
            if name is None:
                continue
            payload = json.loads(target["Input"]) if target.get("Input") else event
            self.runtime.invoke_async(name, payload)
            invoked.append(name)
        return invoked

    def put_event(self, event: dict[str, Any]) -> list[str]:
        """Deliver an event to the Lambda targets of every rule whose pattern matches it."""
        from moto.events.models import EventPattern

        invoked: list[str] = []
        for rule in self._rules():
            pattern = rule.get("EventPattern")
            if pattern and EventPattern.load(pattern).matches_event(event):  # type: ignore[arg-type]
                invoked += self._invoke_targets(rule, event)
        return invoked

    def fire_schedules(self, now: datetime | None = None) -> list[str]:
        moment = now or datetime.now(UTC)
        fired: list[str] = []
        for rule in self._rules():
            expression = rule.get("ScheduleExpression")
            if not expression:
                continue
            try:
                period = parse_rate(expression)
            except ValueError:
                logger.warning("Only rate() schedules fire locally", extra={"rule": rule["Name"]})
                continue
            last = self._last_fired.setdefault(rule["Name"], moment)
            if moment - last >= period:
                self._last_fired[rule["Name"]] = moment
                self._invoke_targets(rule, self._scheduled_event(rule, moment))
                fired.append(rule["Name"])
        return fired

    @staticmethod
    def _scheduled_event(rule: dict[str, Any], moment: datetime) -> dict[str, Any]:
        return _event("Scheduled Event", "aws.events", rule["Arn"], moment, {})

    # ---- alarms -------------------------------------------------------------------------------

    def evaluate_alarms(self, now: datetime | None = None) -> list[str]:
        """Evaluate every metric alarm; returns the names of alarms whose state changed."""
        moment = now or datetime.now(UTC)
        cloudwatch = aws.client("cloudwatch")
        changed: list[str] = []
        for alarm in cloudwatch.describe_alarms().get("MetricAlarms", []):
            state = self._evaluate(alarm, moment)
            if state == alarm.get("StateValue"):
                continue
            reason = f"Evaluated locally at {_iso(moment)}: {state}."
            cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue=state, StateReason=reason)
            changed.append(alarm["AlarmName"])
            self.put_event(self._alarm_event(alarm, state, reason, moment))
        return changed

    @staticmethod
    def _evaluate(alarm: dict[str, Any], moment: datetime) -> str:
        period = int(alarm.get("Period") or 60)
        periods = int(alarm.get("EvaluationPeriods") or 1)
        statistic = alarm.get("Statistic") or "Maximum"
        compare = _COMPARE.get(alarm.get("ComparisonOperator", ""), _COMPARE["GreaterThanOrEqualToThreshold"])
        points = (
            aws.client("cloudwatch")
            .get_metric_statistics(
                Namespace=alarm["Namespace"],
                MetricName=alarm["MetricName"],
                Dimensions=alarm.get("Dimensions", []),
                StartTime=moment - timedelta(seconds=period * periods),
                EndTime=moment + timedelta(seconds=1),
                Period=period,
                Statistics=[statistic],
            )
            .get("Datapoints", [])
        )
        if not points:
            missing = alarm.get("TreatMissingData", "missing")
            if missing == "breaching":
                return "ALARM"
            if missing == "notBreaching":
                return "OK"
            return str(alarm.get("StateValue") or "INSUFFICIENT_DATA")
        breaching = [compare(float(p[statistic]), float(alarm["Threshold"])) for p in points]
        needed = int(alarm.get("DatapointsToAlarm") or periods)
        return "ALARM" if sum(breaching) >= min(needed, len(points)) else "OK"

    @staticmethod
    def _alarm_event(alarm: dict[str, Any], state: str, reason: str, moment: datetime) -> dict[str, Any]:
        return _event(
            "CloudWatch Alarm State Change",
            "aws.cloudwatch",
            alarm["AlarmArn"],
            moment,
            {
                "alarmName": alarm["AlarmName"],
                "state": {"value": state, "reason": reason, "timestamp": _iso(moment)},
                "previousState": {"value": alarm.get("StateValue", "INSUFFICIENT_DATA"), "reason": ""},
                "configuration": {"description": alarm.get("AlarmDescription", "")},
            },
        )

    # ---- executions ---------------------------------------------------------------------------

    def report_executions(self) -> list[str]:
        """Deliver a status-change event for every execution that ended and was not reported yet."""
        sfn = aws.stepfunctions()
        ended: list[str] = []
        for machine in sfn.list_state_machines().get("stateMachines", []):
            for page in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=machine["stateMachineArn"]
            ):
                for execution in page.get("executions", []):
                    arn = execution["executionArn"]
                    if execution["status"] == "RUNNING" or arn in self._reported:
                        continue
                    self._reported.add(arn)
                    self.put_event(self._execution_event(sfn.describe_execution(executionArn=arn)))
                    ended.append(arn)
        return ended

    @staticmethod
    def _execution_event(execution: Any) -> dict[str, Any]:
        def millis(moment: datetime | None) -> int | None:
            return int(moment.timestamp() * 1000) if moment else None

        stopped = execution.get("stopDate") or datetime.now(UTC)
        return _event(
            "Step Functions Execution Status Change",
            "aws.states",
            execution["executionArn"],
            stopped,
            {
                "executionArn": execution["executionArn"],
                "stateMachineArn": execution["stateMachineArn"],
                "name": execution["name"],
                "status": execution["status"],
                "startDate": millis(execution.get("startDate")),
                "stopDate": millis(stopped),
                "input": execution.get("input"),
                "output": execution.get("output"),
                "error": execution.get("error"),
                "cause": execution.get("cause"),
            },
        )

    # ---- loop ---------------------------------------------------------------------------------

    def tick(self) -> None:
        """One round: due schedules, alarm states, ended executions."""
        self.fire_schedules()
        self.evaluate_alarms()
        self.report_executions()

    def start(self) -> None:
        self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop()
