"""A full window of hostile captured values: drift still runs, in memory bounded by rows x features.

Before: one predict with a 1 MB category value was captured as sent, and every later drift run of the
model tried to allocate rows x the longest value (``np.array(values, dtype=str)``: 244 GiB for its
window) and failed as long as that row was in the window.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from mlops import aws
from mlops.bounds import MAX_VALUE_CHARS
from mlops.definition import outputs as out
from mlops.drift.capture_reader import CaptureReader
from mlops.drift.monitoring import drift_alarm_name
from mlops.local.embedded import EmbeddedStack
from mlops.local.resources import LOCAL_STAGE
from mlops.records import model_signature
from mlops.registry import Registry
from mlops.storage import Storage
from tests.faults.conftest import csv_of, good_upload_trains
from tests.integration.conftest import wait_for, wait_for_run

HUGE = 1024 * 1024


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "size": rng.normal(size=rows).round(3),
            "city": rng.choice(["paris", "lyon", "nice"], size=rows),
            "species": rng.choice(["a", "b"], size=rows),
        }
    )


def _predict(embedded: EmbeddedStack, name: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    path = f"/models/{name}/predict"
    response: dict[str, Any] = embedded.invoke_inference(
        {
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": "POST",
            "headers": {"Content-Type": "application/json"},
            "pathParameters": {"proxy": path.lstrip("/")},
            "requestContext": {"requestId": f"req-{len(records)}", "stage": "local"},
            "body": json.dumps({"records": records}),
            "isBase64Encoded": False,
        }
    )
    return response


def _captured_lines(bucket: str, name: str) -> list[dict[str, Any]]:
    s3 = aws.s3()
    lines: list[dict[str, Any]] = []
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=f"capture/{name}/").get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
        lines += [json.loads(line) for line in body.splitlines() if line.strip()]
    return lines


def _hostile_window(bucket: str, name: str, version: int, rows: int, value_chars: int) -> None:
    """Lines as an earlier version captured them: every row's category as long as ``value_chars``."""
    now = datetime.now(UTC)
    lines = [
        json.dumps(
            {
                "request_id": f"hostile-{i}",
                "model": name,
                "version": version,
                "timestamp": now.isoformat(),
                "row": 0,
                "features": {"size": 0.1, "city": f"{i}-" + "z" * value_chars},
                "prediction": "a",
            }
        )
        for i in range(rows)
    ]
    key = f"capture/{name}/{now.date().isoformat()}/hostile-window"
    aws.s3().put_object(Bucket=bucket, Key=key, Body="\n".join(lines).encode())


def test_a_1mb_value_is_captured_bounded_and_drift_runs(
    embedded: EmbeddedStack, registry: Registry, data_bucket: str
) -> None:
    name = "hostile-capture"
    good_upload_trains(registry, data_bucket, name, body=csv_of(_frame(300, 1)))
    response = _predict(embedded, name, [{"size": 0.5, "city": "x" * HUGE}, {"size": 0.1, "city": "paris"}])
    assert response["statusCode"] == 200, response["body"]

    capture_bucket = embedded.stack.outputs[out.CAPTURE_BUCKET]
    lines = wait_for(lambda: _captured_lines(capture_bucket, name))
    hostile = next(line for line in lines if line["row"] == 0)
    assert hostile["shortened"] == 1 and len(hostile["features"]["city"]) <= MAX_VALUE_CHARS
    assert hostile["features"]["city"].startswith("xxx")  # its start kept, then a digest
    assert "shortened" not in next(line for line in lines if line["row"] == 1)

    result = embedded.runtime.invoke("drift", {"model": name})
    assert not result.failed, result.payload
    assert result.payload["rows"] == 2


def test_a_full_hostile_window_reads_in_bounded_memory(
    embedded: EmbeddedStack, registry: Registry, data_bucket: str
) -> None:
    name = "hostile-window"
    run = good_upload_trains(registry, data_bucket, name, body=csv_of(_frame(300, 2)))
    capture_bucket = embedded.stack.outputs[out.CAPTURE_BUCKET]
    rows, value_chars = 300, 256 * 1024
    _hostile_window(capture_bucket, name, run.model_version or 0, rows, value_chars)

    model = registry.models.get_model_version(name, run.model_version or 0)
    signature = model_signature(Storage(), model)
    assert signature is not None
    now = datetime.now(UTC)
    traffic = CaptureReader(capture_bucket).read(
        name, model.version, signature, now - timedelta(hours=1), now + timedelta(minutes=1)
    )
    city = np.asarray(traffic.features["city"])
    assert traffic.rows == rows and len(set(city.tolist())) == rows  # distinct values stay distinct
    assert city.dtype.itemsize <= 4 * MAX_VALUE_CHARS  # was 4 x 256 Ki per row

    result = embedded.runtime.invoke("drift", {"model": name})
    assert not result.failed, result.payload
    report = result.payload
    assert report["rows"] == rows and report["drift_detected"] is True  # every category is unseen

    # The loop goes on: the drift alarm fires and starts a retraining run, which succeeds.
    assert drift_alarm_name(LOCAL_STAGE, name) in embedded.bus.evaluate_alarms()
    retraining = wait_for(
        lambda: next((r for r in registry.runs.list_runs(name) if r.trigger == "drift"), None)
    )
    assert wait_for_run(registry, retraining.run_id).status == "SUCCEEDED"
