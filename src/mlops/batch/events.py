"""The batch state machine's payloads to its function (Powertools parser models)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class BatchStepEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: Literal["plan", "score", "finalize", "fail"]
    request: dict[str, Any] | None = None  # plan, fail: the job request (the execution's input)
    execution: str | None = None  # plan: the execution's ARN
    batch: dict[str, Any] | None = None  # score: {"BatchInput": {"job": ...}, "Items": [...]}
    job_id: str | None = None  # finalize
    error: dict[str, Any] | None = None  # fail: the caught {"Error", "Cause"}
