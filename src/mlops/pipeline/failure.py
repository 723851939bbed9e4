"""The failure recorder, reached by every task's Catch: the run ends FAILED with its stage and reason."""

from __future__ import annotations

from mlops.entities import Run, RunStatus, StageRecord, utcnow
from mlops.pipeline.deps import Deps
from mlops.pipeline.payload import RunPayload
from mlops.pipeline.runs import finish_run


def record_failure(deps: Deps, payload: RunPayload) -> RunPayload:
    stage_name = payload.failed_stage or "unknown"
    message = payload.error.message if payload.error else "The run failed without an error message."
    model_version = payload.training.model_version if payload.training else None
    end_unfinished(deps, payload.run_id, payload.dataset, "FAILED", stage_name, message, model_version)
    return payload


def end_unfinished(
    deps: Deps,
    run_id: str,
    dataset: str,
    status: RunStatus,
    stage_name: str,
    message: str,
    model_version: int | None,
) -> Run:
    """End a run that did not reach its own end: its running stage and candidate model go with it."""
    stage = deps.registry.runs.get_stage(run_id, stage_name)
    if stage is not None and stage.status == "RUNNING":
        ended = utcnow()
        deps.registry.runs.put_stage(
            run_id,
            StageRecord(
                name=stage.name,
                status=status,
                started_at=stage.started_at,
                ended_at=ended,
                duration_s=(ended - stage.started_at).total_seconds(),
                summary=stage.summary,
                error=message,
            ),
        )
    if model_version is not None:
        model = deps.registry.models.find_model_version(dataset, model_version)
        if model is not None and model.status == "candidate":
            deps.registry.models.set_model_status(
                model.name, model.version, "rejected", f"{stage_name}: {message}"
            )
    return finish_run(deps, run_id, status, failed_stage=stage_name, error=message)
