"""Stage bookkeeping: every stage of a run leaves a record with its timing, summary or error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlops.entities import StageName, StageRecord, utcnow
from mlops.pipeline.ports import RunRecords


class StageLog:
    def __init__(self) -> None:
        self.summary: dict[str, Any] = {}


@contextmanager
def stage(runs: RunRecords, run_id: str, name: StageName) -> Iterator[StageLog]:
    """Record a stage RUNNING, then SUCCEEDED with its summary, or FAILED with the error raised."""
    started = utcnow()
    existing = runs.get_stage(run_id, name)
    if existing is not None and existing.status == "RUNNING":
        started = existing.started_at  # a polled stage (SageMaker) keeps its first start
    runs.put_stage(run_id, StageRecord(name=name, status="RUNNING", started_at=started))
    log = StageLog()
    try:
        yield log
    except Exception as error:
        ended = utcnow()
        runs.put_stage(
            run_id,
            StageRecord(
                name=name,
                status="FAILED",
                started_at=started,
                ended_at=ended,
                duration_s=(ended - started).total_seconds(),
                summary=log.summary,
                error=str(error),
            ),
        )
        raise
    ended = utcnow()
    running = log.summary.pop("_in_progress", False)
    runs.put_stage(
        run_id,
        StageRecord(
            name=name,
            status="RUNNING" if running else "SUCCEEDED",
            started_at=started,
            ended_at=None if running else ended,
            duration_s=None if running else (ended - started).total_seconds(),
            summary=log.summary,
        ),
    )
