"""A run's start and end: the one place that creates a run record and its Step Functions execution,
and the one that ends it and frees its dataset's lock."""

from __future__ import annotations

from datetime import datetime

from mlops.entities import Run, RunStatus, Trigger, utcnow
from mlops.errors import Conflict
from mlops.pipeline.deps import Deps
from mlops.pipeline.payload import IngestRequest, RunPayload, execution_name


def start_run(
    deps: Deps,
    state_machine_arn: str,
    run_id: str,
    dataset: str,
    dataset_version: str,
    trigger: Trigger,
    started_at: datetime | None = None,
    config_revision: int | None = None,
    ingest: IngestRequest | None = None,
) -> Run:
    """Create the run (once) and start its execution (once: the execution name is the run id).

    Safe to call again for the same run id: a redelivered event finds the run and the execution
    already there and changes nothing. ``ingest`` names an upload the run ingests itself (a
    processing job), whose ``dataset_version`` is "" until then.
    """
    run = Run(
        run_id=run_id,
        dataset=dataset,
        trigger=trigger,
        dataset_version=dataset_version or None,
        config_revision=config_revision,
        started_at=started_at or utcnow(),
    )
    if not deps.registry.runs.create_run(run):
        run = deps.registry.runs.get_run(run_id)
        if run.execution_arn:
            return run
    payload = RunPayload(
        run_id=run_id,
        dataset=dataset,
        dataset_version=dataset_version,
        trigger=trigger,
        config_revision=run.config_revision,
        ingest=ingest,
    )
    arn = deps.executions.start(
        state_machine_arn, execution_name(run_id), payload.model_dump_json(exclude_none=True)
    )
    run = run.model_copy(update={"execution_arn": arn})
    deps.registry.runs.save_run(run, expect_status=None if run.status != "RUNNING" else "RUNNING")
    return run


def finish_run(
    deps: Deps,
    run_id: str,
    status: RunStatus,
    promoted: bool = False,
    decision: str | None = None,
    failed_stage: str | None = None,
    error: str | None = None,
) -> Run:
    """End a run once (conditional on RUNNING) and free its dataset's lock."""
    run = deps.registry.runs.get_run(run_id)
    if run.status == "RUNNING":
        update: dict[str, object] = {
            "status": status,
            "ended_at": utcnow(),
            "promoted": promoted,
            "decision": decision,
            "failed_stage": failed_stage,
            "error": error,
            "stages": [],
        }
        run = run.model_copy(update=update)
        try:
            deps.registry.runs.save_run(run)
        except Conflict:
            run = deps.registry.runs.get_run(run_id)
    deps.registry.datasets.release_lock(run.dataset, run_id)
    return run
