"""The failure recorder, reached by every task's Catch: the run ends FAILED with its stage and reason."""

from __future__ import annotations

from mlops.models import StageRecord, utcnow
from mlops.pipeline.deps import Deps
from mlops.pipeline.payload import RunPayload
from mlops.pipeline.promote import finish_run


def record_failure(deps: Deps, payload: RunPayload) -> RunPayload:
    stage_name = payload.failed_stage or "unknown"
    message = payload.error.message if payload.error else "The run failed without an error message."
    stage = deps.registry.get_stage(payload.run_id, stage_name)
    if stage is not None and stage.status == "RUNNING":
        ended = utcnow()
        deps.registry.put_stage(
            payload.run_id,
            StageRecord(
                name=stage.name,
                status="FAILED",
                started_at=stage.started_at,
                ended_at=ended,
                duration_s=(ended - stage.started_at).total_seconds(),
                summary=stage.summary,
                error=message,
            ),
        )
    if payload.training and payload.training.model_version is not None:
        model = deps.registry.find_model_version(payload.dataset, payload.training.model_version)
        if model is not None and model.status == "candidate":
            deps.registry.set_model_status(model.name, model.version, "rejected", f"{stage_name}: {message}")
    finish_run(deps, payload.run_id, "FAILED", failed_stage=stage_name, error=message)
    return payload
