from __future__ import annotations

import json
import time

from mlops import aws
from mlops.local.stack import EmbeddedStack
from mlops.registry import Registry
from mlops.stack import outputs as out
from tests.events import load_event
from tests.unit.functions.conftest import csv_bytes, invoke, iris_frame, s3_event


def _executions(stack: EmbeddedStack, dataset: str) -> list[dict[str, object]]:
    arn = stack.stack.state_machine_arn
    found = aws.stepfunctions().list_executions(stateMachineArn=arn)["executions"]
    return [e for e in found if str(e["name"]).startswith(f"{dataset}-")]


def test_records_version_and_starts_one_execution(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    from mlops.config import DatasetConfig

    registry.put_config(ds, DatasetConfig(target="species"))
    bucket = stack.stack.outputs[out.DATA_BUCKET]
    event = s3_event(bucket, f"raw/{ds}/my data.csv", csv_bytes(iris_frame()))
    first = invoke(stack, "ingest", event).payload["outcomes"][0]
    again = invoke(stack, "ingest", event).payload["outcomes"][0]  # at-least-once: delivered twice
    assert first["action"] == "started" and again["action"] == "redelivered"
    assert again["run_id"] == first["run_id"]
    assert len(_executions(stack, ds)) == 1
    version = registry.get_dataset_version(ds, first["sha256"])
    assert version.raw.key == f"raw/{ds}/my data.csv"  # URL-decoded
    assert version.raw.version_id and version.raw.etag
    assert version.rows == 150 and version.column_types["species"] == "string"
    assert version.canonical.key.endswith(".parquet") and version.details is not None
    details = json.loads(aws.s3().get_object(Bucket=bucket, Key=version.details.key)["Body"].read())
    assert details["profile"]["columns"]["species"]["type"] == "string" and version.column_count == 5
    assert (
        aws.s3().head_object(Bucket=bucket, Key=version.canonical.key)["ContentLength"]
        == version.canonical.size
    )


def test_test_event_and_other_keys_are_ignored(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    assert invoke(stack, "ingest", load_event("ingest/s3_test_event")).payload == {"outcomes": []}
    bucket = stack.stack.outputs[out.DATA_BUCKET]
    outcome = invoke(stack, "ingest", s3_event(bucket, f"raw/{ds}/notes.txt", b"hello")).payload["outcomes"][
        0
    ]
    assert outcome["action"] == "ignored" and "not a CSV" in outcome["reason"]
    assert _executions(stack, ds) == []


def test_zero_byte_object_is_refused_with_a_failed_run(
    stack: EmbeddedStack, registry: Registry, ds: str
) -> None:
    bucket = stack.stack.outputs[out.DATA_BUCKET]
    outcome = invoke(stack, "ingest", s3_event(bucket, f"raw/{ds}/empty.csv", b"")).payload["outcomes"][0]
    assert outcome["action"] == "refused"
    run = registry.get_run(outcome["run_id"])
    assert run.status == "FAILED" and run.failed_stage == "ingest" and "empty" in (run.error or "").lower()
    assert _executions(stack, ds) == []


def test_out_of_order_delivery_keeps_upload_order(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    from mlops.config import DatasetConfig

    registry.put_config(ds, DatasetConfig(target="species"))
    bucket = stack.stack.outputs[out.DATA_BUCKET]
    frame = iris_frame()
    older = s3_event(bucket, f"raw/{ds}/older.csv", csv_bytes(frame.iloc[:120]))
    time.sleep(1.1)  # S3 LastModified has one-second resolution
    newer = s3_event(bucket, f"raw/{ds}/newer.csv", csv_bytes(frame.iloc[20:]))
    for event in (newer, older):  # delivered in the wrong order
        assert invoke(stack, "ingest", event).payload["outcomes"][0]["action"] == "started"
    latest = registry.latest_dataset_version(ds)
    assert latest is not None and latest.raw.key == f"raw/{ds}/newer.csv"
