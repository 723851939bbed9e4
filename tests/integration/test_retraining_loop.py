"""The embedded stack's own loop: a drift alarm's state change reaches the rule that starts exactly one
retraining run; schedules fire their targets when their rate elapses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlops import aws
from mlops.config import DatasetConfig
from mlops.definition.description import METRICS_NAMESPACE
from mlops.drift.monitoring import DRIFT_SCORE, drift_alarm_name
from mlops.local.embedded import EmbeddedStack
from mlops.local.resources import LOCAL_STAGE
from mlops.registry import Registry
from tests.integration.conftest import wait_for, wait_for_run
from tests.integration.test_pipeline import iris_csv, outcome_of, upload


def test_drift_alarm_starts_exactly_one_retraining_run(
    embedded: EmbeddedStack, registry: Registry, data_bucket: str
) -> None:
    registry.datasets.put_config("looped", DatasetConfig(target="species"))
    sent = upload(data_bucket, "looped", "iris.csv", iris_csv())
    first = wait_for_run(
        registry, outcome_of(registry, "looped", data_bucket, sent["key"], sent["etag"]).run_id
    )
    assert first.status == "SUCCEEDED"
    # The first evaluation creates the model's alarm (no traffic yet: insufficient data, no breach).
    assert not embedded.runtime.invoke("drift", {"model": "looped"}).failed
    alarm = drift_alarm_name(LOCAL_STAGE, "looped")
    assert embedded.bus.evaluate_alarms() in ([], [alarm])
    # A drifted evaluation puts a breaching score; the bus evaluates the alarm as CloudWatch would.
    aws.cloudwatch().put_metric_data(
        Namespace=METRICS_NAMESPACE.for_stage(LOCAL_STAGE),
        MetricData=[
            {"MetricName": DRIFT_SCORE, "Dimensions": [{"Name": "Model", "Value": "looped"}], "Value": 1.0}
        ],
    )
    assert embedded.bus.evaluate_alarms() == [alarm]
    state = aws.cloudwatch().describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]
    assert state == "ALARM"
    drift_run = wait_for(
        lambda: next((r for r in registry.runs.list_runs("looped") if r.trigger == "drift"), None)
    )
    assert embedded.bus.evaluate_alarms() == []  # still in ALARM: no new state change, no new event
    done = wait_for_run(registry, drift_run.run_id)
    assert done.status == "SUCCEEDED" and done.dataset_version == first.dataset_version
    assert [r.trigger for r in registry.runs.list_runs("looped")].count("drift") == 1


def test_schedules_fire_their_targets_when_due(embedded: EmbeddedStack) -> None:
    now = datetime.now(UTC)
    embedded.bus.fire_schedules(now)  # the clock starts
    assert embedded.bus.fire_schedules(now + timedelta(minutes=5)) == []
    fired = embedded.bus.fire_schedules(now + timedelta(minutes=16))
    assert sorted(fired) == ["mlops-drift-tick", "mlops-retraining-tick"]
