"""Parser models for the drift function's events."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field


class DriftRequest(BaseModel):
    """On demand: what ``mlops drift run NAME`` sends (lambda:Invoke)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    window_hours: float | None = Field(default=None, gt=0, description="Overrides drift.window_hours.")

    @property
    def window(self) -> timedelta | None:
        return timedelta(hours=self.window_hours) if self.window_hours is not None else None


class DriftTick(BaseModel):
    """The constant input of the stack's ``drift-tick`` schedule."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["schedule"]


class ScheduledEvent(EventBridgeModel):
    """An EventBridge (or EventBridge Scheduler) scheduled event without a constant input."""

    source: Literal["aws.events", "aws.scheduler"]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")


class DriftEvent(BaseModel):
    event: DriftRequest | DriftTick | ScheduledEvent
