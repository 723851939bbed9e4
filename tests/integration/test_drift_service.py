"""Drift evaluation in the embedded stack (moto in-process): the real handler end to end.

A production model is registered with its baseline in the artifacts bucket and captured traffic in
the capture bucket; the drift function then writes reports, the summary, metrics and the alarm.
"""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from mlops import aws
from mlops.config import DatasetConfig, DriftConfig
from mlops.definition import outputs as out
from mlops.definition.description import DRIFT_ALARM_PREFIX, METRICS_NAMESPACE
from mlops.drift.monitoring import DRIFT_SCORE, drift_alarm_name, quality_alarm_name
from mlops.entities import ModelVersion
from mlops.local.embedded import EmbeddedStack
from mlops.local.eventbus import EventBus
from mlops.local.resources import LOCAL_STAGE
from mlops.registry import Registry
from mlops.signature import FeatureSpec, Signature
from mlops.storage import Storage
from tests.events import load_event
from tests.factories import model_version
from tests.unit.drift.drift_testdata import CATEGORICAL, NUMERIC, baseline_of, make_columns, predictions

NAMESPACE = METRICS_NAMESPACE.for_stage(LOCAL_STAGE)


def _signature() -> Signature:
    features = [FeatureSpec(name=n, input_name=n, kind="numeric", dtype="float") for n in NUMERIC]
    features += [FeatureSpec(name=n, input_name=n, kind="categorical", dtype="string") for n in CATEGORICAL]
    return Signature(task="classification", target="churned", features=features, classes=["churn", "stay"])


def deploy(
    embedded: EmbeddedStack, registry: Registry, name: str, schedule: str = "rate(1 hour)"
) -> ModelVersion:
    """A production model v1 of ``name`` with a drift baseline, as training and promotion leave it."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    baseline = baseline_of(make_columns(rng, 12_000), predictions(rng, 3000))
    ref = Storage().put(
        embedded.stack.outputs[out.ARTIFACT_BUCKET],
        f"models/{name}/v1/baseline.json",
        json.dumps(baseline).encode(),
        "application/json",
    )
    # model_construct: an invalid schedule stored before validation existed must not stop the tick.
    drift = DriftConfig.model_construct(**{**DriftConfig().model_dump(), "schedule": schedule})
    registry.datasets.put_config(
        name, DatasetConfig.model_construct(**{**DatasetConfig(target="churned").__dict__, "drift": drift})
    )
    model = model_version(
        name,
        metrics={"accuracy": 0.9, "f1_macro": 0.85},
        run_id=f"{name}-upload-1",
        artifacts={"baseline": ref},
        signature=_signature(),
    )
    registry.models.create_model_version(model)
    registry.models.move_alias(name, 1, None, "promote")
    return registry.models.get_model_version(name, 1)


def capture(
    embedded: EmbeddedStack, name: str, rows: int, shift: tuple[str, ...] = (), part: str = "a"
) -> tuple[list[str], np.ndarray]:
    """Captured rows as the inference function writes them, plus lines drift must skip.

    Returns each row's request id and prediction."""
    rng = np.random.default_rng(rows + len(shift))
    columns = make_columns(rng, rows, shift=shift)
    preds = predictions(rng, rows)
    now = datetime.now(UTC)
    stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    lines, ids = [], []
    for i in range(rows):
        request_id = f"req-{part}-{i // 10}"
        ids.append(request_id)
        features = {k: (None if k == "age" and i % 97 == 0 else columns[k][i].item()) for k in columns}
        record = {
            "request_id": request_id,
            "model": name,
            "version": 1,
            "timestamp": stamp,
            "row": i % 10,
            "features": features,
            "prediction": str(preds[i]),
            "probabilities": [0.3, 0.7],
        }
        lines.append(json.dumps(record))
    old = (now - timedelta(days=3)).isoformat()
    skipped = [
        '{"request_id": "broken", "features": {',
        json.dumps(
            {"request_id": "v2", "model": name, "version": 2, "timestamp": stamp, "row": 0, "features": {}}
        ),
        json.dumps(
            {"request_id": "old", "model": name, "version": 1, "timestamp": old, "row": 0, "features": {}}
        ),
    ]
    # Firehose objects: newline-separated lines, two records run together without one.
    body = "\n".join(lines[: rows // 2] + skipped) + "\n" + "".join(lines[rows // 2 :])
    key = f"capture/{name}/{now.date().isoformat()}/{name}-{part}-1"
    aws.s3().put_object(Bucket=embedded.stack.outputs[out.CAPTURE_BUCKET], Key=key, Body=body.encode())
    return ids, preds


def _metric(name: str, metric: str, dims: dict[str, str] | None = None) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    dimensions: Any = [{"Name": "Model", "Value": name}] + [
        {"Name": k, "Value": v} for k, v in (dims or {}).items()
    ]
    points: Any = aws.cloudwatch().get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=metric,
        Dimensions=dimensions,
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    return list(points)


def _alarm(name: str) -> dict[str, Any]:
    alarms = aws.cloudwatch().describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert len(alarms) == 1, name
    return dict(alarms[0])


def test_on_demand_drift_writes_reports_summary_metrics_and_alarm(
    embedded: EmbeddedStack, registry: Registry
) -> None:
    name = "churn-drift"
    deploy(embedded, registry, name)
    capture(embedded, name, 600, shift=("age", "score", "plan"))
    result = embedded.runtime.invoke("drift", {"model": name})
    assert not result.failed, result.payload
    doc = result.payload
    assert doc["model"] == name and doc["version"] == 1 and doc["rows"] == 600
    assert doc["drift_detected"] is True and doc["verdict"] == "drift"
    assert sorted(f for f, v in doc["features"].items() if v["drift"]) == ["age", "plan", "score"]
    assert {"test", "statistic", "threshold", "drift"} <= set(doc["features"]["age"])
    assert doc["prediction"]["test"] == "jensen_shannon"

    artifacts = embedded.stack.outputs[out.ARTIFACT_BUCKET]
    assert doc["report"].startswith(f"s3://{artifacts}/reports/drift/{name}/v1/") and doc["report"].endswith(
        ".json"
    )
    report = json.loads(Storage().get(artifacts, doc["report"].split("/", 3)[3]))
    assert report["drifted_features"] == doc["drifted_features"] and report["malformed_records"] == 1
    assert report["other_version_records"] == 1 and report["outside_window_records"] == 1
    assert report["capture_objects"] == 1
    # Nulls in the captured JSON are missing values (every 97th row's age is null).
    assert report["features"]["age"]["missing_rate"] == pytest.approx(7 / 600)
    html = Storage().get(artifacts, doc["html_report"].split("/", 3)[3]).decode()
    assert html.count('<svg class="plot"') == len(NUMERIC + CATEGORICAL) + 1

    summaries = registry.drift.list_drift_summaries(name, 1)
    assert len(summaries) == 1 and summaries[0].drift_detected and summaries[0].report_uri == doc["report"]

    alarm = _alarm(drift_alarm_name(LOCAL_STAGE, name))
    assert alarm["MetricName"] == DRIFT_SCORE and alarm["Threshold"] == 1.0
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching" and alarm["Period"] == 60
    assert max(p["Maximum"] for p in _metric(name, DRIFT_SCORE)) == pytest.approx(1.0)
    assert _metric(name, "FeatureDrift", {"Feature": "age"})[0]["Maximum"] == 1.0
    assert _metric(name, "FeatureDrift", {"Feature": "income"})[0]["Maximum"] == 0.0
    # The embedded stack's alarm evaluation sees the datapoint and moves the alarm to ALARM.
    assert EventBus._evaluate(alarm, datetime.now(UTC)) == "ALARM"


def test_no_drift_and_insufficient_data_do_not_breach(embedded: EmbeddedStack, registry: Registry) -> None:
    quiet, sparse = "churn-quiet", "churn-sparse"
    deploy(embedded, registry, quiet)
    deploy(embedded, registry, sparse)
    capture(embedded, quiet, 800)
    capture(embedded, sparse, 60, shift=("age", "score", "plan", "income"))
    calm = embedded.runtime.invoke("drift", {"model": quiet}).payload
    assert calm["verdict"] == "no_drift" and calm["drift_detected"] is False
    assert max(p["Maximum"] for p in _metric(quiet, DRIFT_SCORE)) < 1.0
    assert EventBus._evaluate(_alarm(drift_alarm_name(LOCAL_STAGE, quiet)), datetime.now(UTC)) == "OK"
    few = embedded.runtime.invoke("drift", {"model": sparse}).payload
    assert few["verdict"] == "insufficient_data" and few["drift_detected"] is False and few["rows"] == 60
    assert _metric(sparse, DRIFT_SCORE) == []
    assert EventBus._evaluate(_alarm(drift_alarm_name(LOCAL_STAGE, sparse)), datetime.now(UTC)) == "OK"


def test_schedule_tick_evaluates_due_models_once(embedded: EmbeddedStack, registry: Registry) -> None:
    name = "churn-ticked"
    deploy(embedded, registry, name, schedule="rate(30 minutes)")
    capture(embedded, name, 300)
    first = embedded.runtime.invoke("drift", load_event("drift/schedule_tick"))
    assert not first.failed, first.payload
    assert name in [e["model"] for e in first.payload["evaluated"]]
    # The same tick delivered again, and EventBridge's own scheduled-event shape: nothing is due.
    again = embedded.runtime.invoke("drift", load_event("drift/schedule_tick")).payload
    scheduled = embedded.runtime.invoke("drift", load_event("drift/scheduled_event")).payload
    for tick in (again, scheduled):
        assert name in tick["not_due"] and name not in [e["model"] for e in tick["evaluated"]]
    assert len(registry.drift.list_drift_summaries(name, 1)) == 1
    # The alarm is left alone once it exists (a rewrite would reset its state).
    before = _alarm(drift_alarm_name(LOCAL_STAGE, name))["AlarmConfigurationUpdatedTimestamp"]
    embedded.runtime.invoke("drift", {"model": name})
    assert _alarm(drift_alarm_name(LOCAL_STAGE, name))["AlarmConfigurationUpdatedTimestamp"] == before


def test_invalid_schedule_is_reported_without_stopping_the_tick(
    embedded: EmbeddedStack, registry: Registry
) -> None:
    deploy(embedded, registry, "churn-badrate", schedule="every hour")
    tick = embedded.runtime.invoke("drift", {"source": "schedule"}).payload
    assert "not of the form" in tick["failed"]["churn-badrate"]


def test_model_without_production_version_is_a_clear_error(embedded: EmbeddedStack) -> None:
    result = embedded.runtime.invoke("drift", {"model": "nobody"})
    assert result.failed and "no production model" in result.payload["errorMessage"]


def test_ground_truth_gives_live_accuracy_and_its_alarm(embedded: EmbeddedStack, registry: Registry) -> None:
    name = "churn-labelled"
    deploy(embedded, registry, name)
    ids, preds = capture(embedded, name, 400)
    doc = embedded.runtime.invoke("drift", {"model": name}).payload
    assert "quality" not in doc  # no labels yet
    # Labels for 100 captured rows: the first 60 as CSV agree with "stay", the next 40 as JSON Lines don't.
    captured = [(ids[i], i % 10) for i in range(100)]
    csv_body = "request_id,row,label\n" + "".join(f"{r},{n},stay\n" for r, n in captured[:60])
    jsonl_body = "".join(
        json.dumps({"request_id": r, "row": n, "label": "churn"}) + "\n" for r, n in captured[60:]
    )
    bucket = embedded.stack.outputs[out.CAPTURE_BUCKET]
    aws.s3().put_object(Bucket=bucket, Key=f"ground-truth/{name}/batch-1.csv", Body=csv_body.encode())
    aws.s3().put_object(Bucket=bucket, Key=f"ground-truth/{name}/batch-2.jsonl", Body=jsonl_body.encode())
    doc = embedded.runtime.invoke("drift", {"model": name}).payload
    quality = doc["quality"]
    assert quality["metric"] == "accuracy" and quality["labelled_rows"] == 100
    expected = (np.sum(preds[:60] == "stay") + np.sum(preds[60:100] == "churn")) / 100
    assert quality["value"] == pytest.approx(expected)
    assert quality["threshold"] == pytest.approx(0.85) and quality["degraded"] == (expected < 0.85)
    points = _metric(name, "LiveAccuracy", {"Version": "1"})
    assert points and points[0]["Maximum"] == pytest.approx(expected)
    alarm = _alarm(quality_alarm_name(LOCAL_STAGE, name))
    assert alarm["MetricName"] == "LiveAccuracy" and alarm["ComparisonOperator"] == "LessThanThreshold"
    assert not alarm["AlarmName"].startswith(
        DRIFT_ALARM_PREFIX.for_stage(LOCAL_STAGE)
    )  # notifies, never retrains
