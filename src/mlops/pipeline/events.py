"""Parser models for the events that start runs (the trigger function's input) and that end them (the
reconcile function's input)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field

from mlops.definition.description import DRIFT_ALARM_PREFIX


class ManualTrigger(BaseModel):
    """What ``mlops retrain NAME`` sends."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    trigger: Literal["manual"] = "manual"


class ScheduleTick(BaseModel):
    """The constant input of the retraining-tick schedule."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["schedule"]


class AlarmState(BaseModel):
    value: str
    reason: str = ""
    timestamp: datetime | None = None


class AlarmDetail(BaseModel):
    alarm_name: str = Field(alias="alarmName")
    state: AlarmState
    previous_state: AlarmState | None = Field(default=None, alias="previousState")


class AlarmStateChange(EventBridgeModel):
    """EventBridge's ``CloudWatch Alarm State Change`` event."""

    source: Literal["aws.cloudwatch"]
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    detail: AlarmDetail

    def dataset(self, stage: str) -> str | None:
        """The dataset whose drift alarm this is, when it is one of this stage's drift alarms."""
        prefix = DRIFT_ALARM_PREFIX.for_stage(stage)
        name = self.detail.alarm_name
        return name[len(prefix) :] if name.startswith(prefix) else None


class TriggerEvent(BaseModel):
    event: AlarmStateChange | ManualTrigger | ScheduleTick


class ExecutionDetail(BaseModel):
    execution_arn: str = Field(alias="executionArn")
    state_machine_arn: str = Field(alias="stateMachineArn")
    name: str
    status: Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]
    input: str | None = None
    error: str | None = None
    cause: str | None = None


class ExecutionStatusChange(EventBridgeModel):
    """EventBridge's ``Step Functions Execution Status Change`` event."""

    source: Literal["aws.states"]
    detail_type: Literal["Step Functions Execution Status Change"] = Field(alias="detail-type")
    detail: ExecutionDetail


class SweepRequest(BaseModel):
    """Reconcile every run still RUNNING (what the embedded stack sends when it starts)."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["sweep"]
    # Runs younger than this may be between their record and their execution's start; the embedded
    # stack sends 0 when it starts, since no execution survives a restart there.
    grace_s: int = Field(default=120, ge=0)


class ReconcileEvent(BaseModel):
    event: ExecutionStatusChange | SweepRequest
