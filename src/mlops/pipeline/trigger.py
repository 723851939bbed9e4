"""Starting runs on a dataset's latest version: manual, scheduled and drift-triggered.

Drift and schedule triggers respect the dataset's cooldown and take the dataset's lock, so one drift
episode (or one alarm event delivered twice) starts one retraining. Run ids derive from the triggering
event, so a redelivered event finds its run already there.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel

from mlops.config import parse_rate
from mlops.entities import Trigger, utcnow
from mlops.errors import NotFound
from mlops.pipeline.deps import Deps
from mlops.pipeline.events import AlarmStateChange, ManualTrigger, ScheduleTick
from mlops.pipeline.runs import start_run

LOCK_TTL_S = 6 * 3600


class TriggerOutcome(BaseModel):
    dataset: str
    trigger: Trigger
    started: bool
    run_id: str | None = None
    reason: str


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def trigger_run(
    deps: Deps,
    state_machine_arn: str,
    dataset: str,
    trigger: Trigger,
    event_time: datetime | None = None,
) -> TriggerOutcome:
    moment = event_time or utcnow()
    current = deps.registry.datasets.config_revision(dataset, None)
    config = current.config
    # The newest version that passed validation once: a rejected upload never becomes what retraining
    # trains. Before any version passed, the newest one (its validation decides again).
    accepted = deps.registry.datasets.latest_accepted_version(dataset)
    version = accepted[0] if accepted else deps.registry.datasets.latest_dataset_version(dataset)
    if version is None:
        raise NotFound(f"Dataset '{dataset}' has no data yet: upload a CSV first.")
    run_id = f"{dataset}-{trigger}-{_stamp(moment)}"
    if trigger in ("drift", "schedule"):
        held = _held_back(deps, config.retraining.cooldown_minutes, dataset, run_id, moment)
        if held is not None:
            holder, reason = held
            return TriggerOutcome(
                dataset=dataset, trigger=trigger, started=False, run_id=holder, reason=reason
            )
    run = start_run(
        deps,
        state_machine_arn,
        run_id,
        dataset,
        version.sha256,
        trigger,
        started_at=moment,
        config_revision=current.revision,
    )
    which = "accepted dataset version" if accepted else "dataset version (none accepted yet)"
    return TriggerOutcome(
        dataset=dataset,
        trigger=trigger,
        started=True,
        run_id=run.run_id,
        reason=f"Started on {which} {version.sha256[:12]} with config revision {current.revision}.",
    )


def _held_back(
    deps: Deps, cooldown_minutes: float, dataset: str, run_id: str, moment: datetime
) -> tuple[str | None, str] | None:
    """Why an automatic run ``run_id`` must not start, as (the run that holds it back, reason); None
    when it may start, in which case it now holds the dataset's lock."""
    cooldown = timedelta(minutes=cooldown_minutes)
    for run in deps.registry.runs.list_runs(dataset, limit=50):
        if run.run_id == run_id:
            return run_id, "Already started."
        if run.status == "RUNNING":
            return run.run_id, f"Run {run.run_id} of '{dataset}' is still in flight."
        if run.trigger in ("drift", "schedule") and moment - run.started_at < cooldown:
            return run.run_id, (
                f"Cooldown: {run.trigger} run {run.run_id} started less than "
                f"{cooldown_minutes:g} minutes ago."
            )
    if not deps.registry.datasets.acquire_lock(dataset, run_id, LOCK_TTL_S):
        holder = deps.registry.datasets.lock_holder(dataset)
        return holder, f"Run {holder} of '{dataset}' holds the retraining lock."
    return None


def due_for_retraining(deps: Deps, now: datetime | None = None) -> list[str]:
    """Datasets whose ``retraining.schedule`` has elapsed since their last scheduled run."""
    moment = now or utcnow()
    due: list[str] = []
    for dataset in deps.registry.datasets.list_datasets():
        config = deps.registry.datasets.find_config(dataset)
        if config is None or not config.retraining.schedule:
            continue
        try:
            period = parse_rate(config.retraining.schedule)
        except ValueError:
            continue
        last = deps.registry.runs.last_run_started(dataset, "schedule")
        if last is None:
            version = deps.registry.datasets.latest_dataset_version(dataset)
            last = version.created_at if version else moment
        if moment - last >= period:
            due.append(dataset)
    return due


def run_scheduled(deps: Deps, state_machine_arn: str, now: datetime | None = None) -> list[TriggerOutcome]:
    moment = now or utcnow()
    return [
        trigger_run(deps, state_machine_arn, d, "schedule", moment) for d in due_for_retraining(deps, moment)
    ]


def handle_trigger(
    deps: Deps, state_machine_arn: str, stage: str, event: AlarmStateChange | ManualTrigger | ScheduleTick
) -> list[TriggerOutcome]:
    """One entry point for the trigger function's three event kinds (alarms of ``stage`` only)."""
    if isinstance(event, ManualTrigger):
        return [trigger_run(deps, state_machine_arn, event.dataset, "manual")]
    if isinstance(event, ScheduleTick):
        return run_scheduled(deps, state_machine_arn)
    dataset = event.dataset(stage)
    if dataset is None or event.detail.state.value != "ALARM":
        return []
    moment = event.detail.state.timestamp or event.time
    return [trigger_run(deps, state_machine_arn, dataset, "drift", moment)]
