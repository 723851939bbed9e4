"""Reconciliation: a run's record follows its execution's real end.

The pipeline records a run's end itself (promotion, or the failure recorder behind every Catch). An
execution can end without reaching either: stopped by hand, past its timeout, a ``States.Runtime`` or
``States.DataLimitExceeded`` error (which no Catch sees), or gone, when the embedded stack stopped while
it ran. Its run would stay RUNNING forever and refuse every drift or scheduled retraining of its dataset
("still in flight"). Step Functions' execution status-change events (an EventBridge rule, and the same
rule in the embedded stack) and a sweep of RUNNING runs end such a run ABORTED with the reason, reject
its candidate model and free its dataset's lock. A run that already ended is left as it is, so duplicate
and out-of-order events change nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ValidationError

from mlops.entities import Run, utcnow
from mlops.errors import NotFound
from mlops.executions import execution_arn
from mlops.pipeline.deps import Deps
from mlops.pipeline.events import ExecutionDetail, ExecutionStatusChange, SweepRequest
from mlops.pipeline.failure import end_unfinished
from mlops.pipeline.payload import RunPayload, execution_name

SWEEP_LIMIT = 1_000
_ENDED = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


class ReconcileOutcome(BaseModel):
    run_id: str | None
    action: Literal["aborted", "unchanged", "unknown"]
    reason: str


def _reason(status: str, error: str | None = None, cause: str | None = None) -> str:
    if status == "TIMED_OUT":
        return "The pipeline execution timed out before the run could record its end."
    if status == "ABORTED":
        return "The pipeline execution was stopped before the run could record its end."
    if status == "SUCCEEDED":
        return "The pipeline execution ended without recording the run's end."
    detail = ": ".join(part for part in (error, cause) if part)
    return (
        f"The pipeline execution failed ({detail or 'no error given'}) before the run could record its end."
    )


def _running_stage(deps: Deps, run: Run) -> str:
    stages = deps.registry.runs.get_run(run.run_id).stages
    running = [s.name for s in stages if s.status == "RUNNING"]
    return running[-1] if running else (stages[-1].name if stages else "pipeline")


def abort_run(deps: Deps, run: Run, reason: str) -> ReconcileOutcome:
    if run.status != "RUNNING":
        return ReconcileOutcome(run_id=run.run_id, action="unchanged", reason=f"The run is {run.status}.")
    ended = end_unfinished(
        deps, run.run_id, run.dataset, "ABORTED", _running_stage(deps, run), reason, run.model_version
    )
    action = "aborted" if ended.status == "ABORTED" else "unchanged"
    return ReconcileOutcome(run_id=run.run_id, action=action, reason=ended.error or reason)


def _run_of(deps: Deps, detail: ExecutionDetail) -> Run | None:
    if detail.input:
        try:
            return deps.registry.runs.get_run(RunPayload.model_validate_json(detail.input).run_id)
        except (ValidationError, NotFound):
            pass  # not a run's input, or a run never recorded: fall back to the lookup below
    # No usable input (over the event's size limit, or not a run's): look the execution up among runs.
    return next((r for r in _running(deps) if r.execution_arn == detail.execution_arn), None)


def _running(deps: Deps) -> list[Run]:
    return [r for r in deps.registry.runs.list_runs(limit=SWEEP_LIMIT) if r.status == "RUNNING"]


def reconcile_execution(deps: Deps, detail: ExecutionDetail) -> ReconcileOutcome:
    """One execution status change: end its run if the execution ended and the run did not."""
    if detail.status not in _ENDED:
        return ReconcileOutcome(run_id=None, action="unchanged", reason=f"The execution is {detail.status}.")
    run = _run_of(deps, detail)
    if run is None:
        return ReconcileOutcome(run_id=None, action="unknown", reason=f"No run for {detail.name}.")
    return abort_run(deps, run, _reason(detail.status, detail.error, detail.cause))


def sweep_runs(deps: Deps, state_machine_arn: str, grace: timedelta) -> list[ReconcileOutcome]:
    """Every RUNNING run older than ``grace`` whose execution ended or is gone ends ABORTED."""
    outcomes: list[ReconcileOutcome] = []
    now = utcnow()
    for run in _running(deps):
        if now - run.started_at < grace:
            continue
        arn = run.execution_arn or execution_arn(state_machine_arn, execution_name(run.run_id))
        execution = deps.execution_states.state(arn)
        if execution is None:
            reason = "The pipeline execution no longer exists (the stack stopped while it ran)."
            outcomes.append(abort_run(deps, run, reason))
        elif execution.status in _ENDED:
            reason = _reason(execution.status, execution.error, execution.cause)
            outcomes.append(abort_run(deps, run, reason))
    return outcomes


def handle_reconcile(
    deps: Deps, state_machine_arn: str, event: ExecutionStatusChange | SweepRequest
) -> list[ReconcileOutcome]:
    if isinstance(event, SweepRequest):
        return sweep_runs(deps, state_machine_arn, timedelta(seconds=event.grace_s))
    return [reconcile_execution(deps, event.detail)]
