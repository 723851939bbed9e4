"""The trigger function: manual, scheduled and drift-alarm runs; cooldown and lock."""

from __future__ import annotations

import copy
from datetime import timedelta

from mlops.config import DatasetConfig
from mlops.definition.description import DRIFT_ALARM_PREFIX
from mlops.entities import utcnow
from mlops.local.embedded import EmbeddedStack
from mlops.local.resources import LOCAL_STAGE
from mlops.pipeline.events import AlarmStateChange
from mlops.registry import Registry
from tests.events import load_event
from tests.integration.functions.conftest import ingest_iris, invoke, run_through

STEPS = ("validation", "training", "conversion", "promotion")


def _alarm(dataset: str, minute: int) -> dict[str, object]:
    event = copy.deepcopy(load_event("trigger/alarm_state_change"))
    event["detail"]["alarmName"] = f"{DRIFT_ALARM_PREFIX.for_stage(LOCAL_STAGE)}{dataset}"
    event["detail"]["state"]["timestamp"] = f"2026-11-23T11:{minute:02d}:05.120+0000"
    return event


def _finish(stack: EmbeddedStack, registry: Registry, run_id: str) -> None:
    run = registry.runs.get_run(run_id)
    payload = {
        "run_id": run.run_id,
        "dataset": run.dataset,
        "dataset_version": run.dataset_version,
        "trigger": run.trigger,
    }
    run_through(stack, payload, *STEPS)


def test_sample_alarm_event_parses() -> None:
    event = AlarmStateChange.model_validate(load_event("trigger/alarm_state_change"))
    assert event.dataset("dev") == "iris" and event.detail.state.value == "ALARM"
    assert event.dataset("prod") is None  # another stage's alarm


def test_manual_trigger_starts_a_run(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    _finish(stack, registry, ingest_iris(stack, registry, ds)["run_id"])
    result = invoke(stack, "trigger", {"dataset": ds}).payload["outcomes"][0]
    assert result["started"] and result["trigger"] == "manual"
    run = registry.runs.get_run(result["run_id"])
    assert run.trigger == "manual" and run.execution_arn


def test_manual_trigger_on_unknown_dataset_is_a_clear_error(stack: EmbeddedStack) -> None:
    result = invoke(stack, "trigger", {"dataset": "no-such-dataset"})
    assert result.failed and "no config" in result.payload["errorMessage"]


def test_one_drift_episode_starts_one_run(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    _finish(stack, registry, ingest_iris(stack, registry, ds)["run_id"])
    first = invoke(stack, "trigger", _alarm(ds, 0)).payload["outcomes"][0]
    assert first["started"] and first["trigger"] == "drift"
    again = invoke(stack, "trigger", _alarm(ds, 0)).payload["outcomes"][0]  # delivered twice
    assert not again["started"]
    later = invoke(stack, "trigger", _alarm(ds, 1)).payload["outcomes"][0]  # while the run is in flight
    assert not later["started"] and "in flight" in later["reason"]
    _finish(stack, registry, first["run_id"])
    cooled = invoke(stack, "trigger", _alarm(ds, 2)).payload["outcomes"][0]
    assert not cooled["started"] and "Cooldown" in cooled["reason"]
    drift_runs = [r for r in registry.runs.list_runs(ds) if r.trigger == "drift"]
    assert len(drift_runs) == 1


def test_ok_state_and_other_alarms_start_nothing(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    ok = _alarm(ds, 3)
    ok["detail"]["state"]["value"] = "OK"  # type: ignore[index]
    assert invoke(stack, "trigger", ok).payload["outcomes"] == []
    other = _alarm(ds, 4)
    other["detail"]["alarmName"] = "someone-elses-alarm"  # type: ignore[index]
    assert invoke(stack, "trigger", other).payload["outcomes"] == []
    other_stage = _alarm(ds, 5)
    other_stage["detail"]["alarmName"] = f"{DRIFT_ALARM_PREFIX.for_stage('prod')}{ds}"  # type: ignore[index]
    assert invoke(stack, "trigger", other_stage).payload["outcomes"] == []


def test_schedule_tick_retrains_datasets_that_are_due(
    stack: EmbeddedStack, registry: Registry, ds: str
) -> None:
    from mlops.pipeline.deps import build_deps
    from mlops.pipeline.trigger import due_for_retraining

    _finish(stack, registry, ingest_iris(stack, registry, ds)["run_id"])
    registry.datasets.put_config(
        ds, DatasetConfig(target="species", retraining={"schedule": "rate(1 day)", "cooldown_minutes": 0})
    )
    deps = build_deps(
        registry.table.name, stack.stack.outputs["DataBucketName"], stack.stack.outputs["ArtifactBucketName"]
    )
    assert ds not in due_for_retraining(deps)  # the data is minutes old
    assert ds in due_for_retraining(deps, utcnow() + timedelta(days=1, minutes=1))
    outcomes = invoke(stack, "trigger", load_event("trigger/schedule_tick")).payload["outcomes"]
    assert all(o["dataset"] != ds for o in outcomes)


def test_due_schedule_starts_a_schedule_run(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    from mlops.executions import default_execution_starter
    from mlops.pipeline.deps import build_deps
    from mlops.pipeline.trigger import run_scheduled

    _finish(stack, registry, ingest_iris(stack, registry, ds)["run_id"])
    registry.datasets.put_config(
        ds, DatasetConfig(target="species", retraining={"schedule": "rate(6 hours)"})
    )
    deps = build_deps(
        registry.table.name,
        stack.stack.outputs["DataBucketName"],
        stack.stack.outputs["ArtifactBucketName"],
        execution_starter=default_execution_starter(),
    )
    later = utcnow() + timedelta(hours=7)
    started = [o for o in run_scheduled(deps, stack.stack.state_machine_arn, later) if o.dataset == ds]
    assert len(started) == 1 and started[0].started and started[0].trigger == "schedule"
    assert registry.runs.get_run(started[0].run_id or "").trigger == "schedule"
    # The next tick, still within the period since that run, starts nothing.
    assert all(
        o.dataset != ds
        for o in run_scheduled(deps, stack.stack.state_machine_arn, later + timedelta(hours=1))
    )
