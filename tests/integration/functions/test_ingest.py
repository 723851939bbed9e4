from __future__ import annotations

import io
import json
import time

import numpy as np
import pandas as pd
import pytest

from mlops import aws
from mlops.definition import outputs as out
from mlops.entities import RawObjectRef
from mlops.errors import IngestRefused
from mlops.local.embedded import EmbeddedStack
from mlops.multipart import MultipartUpload
from mlops.pipeline.ingest import read_upload
from mlops.registry import Registry
from mlops.storage import Storage
from tests.events import load_event
from tests.integration.functions.conftest import csv_bytes, invoke, iris_frame, s3_event


def _executions(stack: EmbeddedStack, dataset: str) -> list[dict[str, object]]:
    arn = stack.stack.state_machine_arn
    found = aws.stepfunctions().list_executions(stateMachineArn=arn)["executions"]
    return [e for e in found if str(e["name"]).startswith(f"{dataset}-")]


def test_records_version_and_starts_one_execution(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    from mlops.config import DatasetConfig

    registry.datasets.put_config(ds, DatasetConfig(target="species"))
    bucket = stack.stack.outputs[out.DATA_BUCKET]
    event = s3_event(bucket, f"raw/{ds}/my data.csv", csv_bytes(iris_frame()))
    first = invoke(stack, "ingest", event).payload["outcomes"][0]
    again = invoke(stack, "ingest", event).payload["outcomes"][0]  # at-least-once: delivered twice
    assert first["action"] == "started" and again["action"] == "redelivered"
    assert again["run_id"] == first["run_id"]
    assert len(_executions(stack, ds)) == 1
    version = registry.datasets.get_dataset_version(ds, first["sha256"])
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
    run = registry.runs.get_run(outcome["run_id"])
    assert run.status == "FAILED" and run.failed_stage == "ingest" and "empty" in (run.error or "").lower()
    assert _executions(stack, ds) == []


def test_out_of_order_delivery_keeps_upload_order(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    from mlops.config import DatasetConfig

    registry.datasets.put_config(ds, DatasetConfig(target="species"))
    bucket = stack.stack.outputs[out.DATA_BUCKET]
    frame = iris_frame()
    older = s3_event(bucket, f"raw/{ds}/older.csv", csv_bytes(frame.iloc[:120]))
    time.sleep(1.1)  # S3 LastModified has one-second resolution
    newer = s3_event(bucket, f"raw/{ds}/newer.csv", csv_bytes(frame.iloc[20:]))
    for event in (newer, older):  # delivered in the wrong order
        assert invoke(stack, "ingest", event).payload["outcomes"][0]["action"] == "started"
    latest = registry.datasets.latest_dataset_version(ds)
    assert latest is not None and latest.raw.key == f"raw/{ds}/newer.csv"


def test_a_csv_delivered_before_its_config_object_trains_under_it(
    stack: EmbeddedStack, registry: Registry, ds: str
) -> None:
    bucket = stack.stack.outputs[out.DATA_BUCKET]
    config_event = s3_event(bucket, f"raw/{ds}/mlops.yaml", b"target: species\nestimator: random_forest\n")
    csv_event = s3_event(bucket, f"raw/{ds}/data.csv", csv_bytes(iris_frame()))
    started = invoke(stack, "ingest", csv_event).payload["outcomes"][0]  # the CSV's event comes first
    assert started["action"] == "started"
    current = registry.datasets.current_config(ds)
    assert current is not None and (current.revision, current.source) == (1, "s3")
    assert current.config.estimator == "random_forest"
    assert registry.runs.get_run(started["run_id"]).config_revision == 1
    late = invoke(stack, "ingest", config_event).payload["outcomes"][0]
    assert late["action"] == "configured"
    assert registry.datasets.current_config(ds).revision == 1  # type: ignore[union-attr]
    assert len(_executions(stack, ds)) == 1  # the YAML itself starts nothing


def test_a_config_written_after_the_object_supersedes_it(
    stack: EmbeddedStack, registry: Registry, ds: str
) -> None:
    from mlops.config import DatasetConfig

    bucket = stack.stack.outputs[out.DATA_BUCKET]
    event = s3_event(bucket, f"raw/{ds}/mlops.yaml", b"target: species\nestimator: random_forest\n")
    time.sleep(1.1)  # S3 LastModified has one-second resolution
    registry.datasets.put_config(
        ds, DatasetConfig(target="species", estimator="logistic_regression"), source="cli"
    )
    outcome = invoke(stack, "ingest", event).payload["outcomes"][0]
    assert outcome["action"] == "configured"
    assert outcome["reason"] == "Superseded by config revision 1 (cli), written after this object."
    assert registry.datasets.get_config(ds).estimator == "logistic_regression"
    # Changing the object again makes it the latest change: it is applied.
    changed = s3_event(bucket, f"raw/{ds}/mlops.yaml", b"target: species\nestimator: random_forest\n# v2\n")
    assert invoke(stack, "ingest", changed).payload["outcomes"][0]["reason"] == "Config revision 2."
    assert registry.datasets.get_config(ds).estimator == "random_forest"


def test_identical_content_trains_again_only_under_a_changed_config(
    stack: EmbeddedStack, registry: Registry, ds: str
) -> None:
    from mlops.config import DatasetConfig

    registry.datasets.put_config(ds, DatasetConfig(target="species"))
    bucket = stack.stack.outputs[out.DATA_BUCKET]
    body = csv_bytes(iris_frame())
    first = invoke(stack, "ingest", s3_event(bucket, f"raw/{ds}/a.csv", body)).payload["outcomes"][0]
    same = invoke(stack, "ingest", s3_event(bucket, f"raw/{ds}/b.csv", body)).payload["outcomes"][0]
    assert (first["action"], same["action"]) == ("started", "duplicate")
    registry.datasets.put_config(ds, DatasetConfig(target="petal length (cm)", task="regression"))
    again = invoke(stack, "ingest", s3_event(bucket, f"raw/{ds}/c.csv", body)).payload["outcomes"][0]
    assert again["action"] == "started" and again["run_id"] == f"{first['run_id']}-c2"
    assert registry.runs.get_run(again["run_id"]).config_revision == 2
    assert len(_executions(stack, ds)) == 2


def test_execution_names_stay_unique_past_the_80_character_limit() -> None:
    from mlops.pipeline.payload import execution_name

    dataset = "d" * 64
    names = {execution_name(f"{dataset}-upload-{'a' * 16}{suffix}") for suffix in ("", "-c2", "-c3")}
    names |= {execution_name(f"{dataset}-manual-2025030{day}T120000") for day in (1, 2)}
    assert len(names) == 5
    assert all(len(name) <= 80 and name.replace("-", "").isalnum() for name in names)
    assert execution_name("iris-upload-0123") == "iris-upload-0123"  # short, safe ids are kept
    assert execution_name("a.b-manual-1") != execution_name("a_b-manual-1")


def _uploads(bucket: str, ds: str) -> list[str]:
    found = aws.s3().list_multipart_uploads(Bucket=bucket, Prefix=f"datasets/{ds}/")
    return [upload["Key"] for upload in found.get("Uploads", [])]


def _failing_csv(rows: int) -> bytes:
    """Numbers enough for several Parquet parts, then a last line with a field too many."""
    rng = np.random.default_rng(0)
    body = pd.DataFrame(rng.normal(size=(rows, 4)), columns=["a", "b", "c", "label"]).to_csv(index=False)
    return (body + "1,2,3,4,5\n").encode()


def test_a_read_failing_midway_aborts_its_multipart_upload(stack: EmbeddedStack, ds: str) -> None:
    bucket = stack.stack.outputs[out.DATA_BUCKET]
    data = _failing_csv(200_000)
    put = aws.s3().put_object(Bucket=bucket, Key=f"raw/{ds}/big.csv", Body=data)
    raw = RawObjectRef(
        bucket=bucket, key=f"raw/{ds}/big.csv", etag=put["ETag"].strip('"'), size=len(data), version_id=None
    )
    storage = Storage()
    with pytest.raises(IngestRefused, match=r"line 200002 has 5 fields where the header has 4\.$"):
        read_upload(
            storage, raw, bucket, ds, 2**30, block_size=1 << 20, part_bytes=5 * 1024**2, whole_bytes=0
        )
    assert _uploads(bucket, ds) == []
    assert aws.s3().list_objects_v2(Bucket=bucket, Prefix=f"datasets/{ds}/")["KeyCount"] == 0


def _keys(bucket: str, ds: str) -> list[str]:
    listing = aws.s3().list_objects_v2(Bucket=bucket, Prefix=f"datasets/{ds}/")
    return sorted(item["Key"] for item in listing.get("Contents", []))


def _raw(bucket: str, ds: str, data: bytes) -> RawObjectRef:
    put = aws.s3().put_object(Bucket=bucket, Key=f"raw/{ds}/data.csv", Body=data)
    return RawObjectRef(
        bucket=bucket, key=f"raw/{ds}/data.csv", etag=put["ETag"].strip('"'), size=len(data), version_id=None
    )


def test_an_upload_s_parquet_copy_goes_to_its_canonical_key_once(
    stack: EmbeddedStack, registry: Registry, ds: str
) -> None:
    """Held in memory, the copy is PUT where the version names it: no staging object, no upload parts."""
    from mlops.config import DatasetConfig

    registry.datasets.put_config(ds, DatasetConfig(target="species"))
    bucket = stack.stack.outputs[out.DATA_BUCKET]
    outcome = invoke(stack, "ingest", s3_event(bucket, f"raw/{ds}/iris.csv", csv_bytes(iris_frame())))
    version = registry.datasets.get_dataset_version(ds, outcome.payload["outcomes"][0]["sha256"])
    assert _keys(bucket, ds) == sorted(
        [version.canonical.key, version.details.key if version.details else ""]
    )
    assert _uploads(bucket, ds) == []
    head = aws.s3().head_object(Bucket=bucket, Key=version.canonical.key)
    assert head["Metadata"]["sha256"] == version.canonical.sha256
    frame = pd.read_parquet(io.BytesIO(Storage().get_verified(version.canonical)))
    assert len(frame) == 150 and list(frame.columns) == list(iris_frame().columns)


@pytest.mark.parametrize("whole_bytes", [0, 2**30], ids=["in-parts", "held"])
def test_a_parquet_copy_is_stored_at_its_key_or_discarded_leaving_nothing(
    stack: EmbeddedStack, ds: str, whole_bytes: int
) -> None:
    bucket = stack.stack.outputs[out.DATA_BUCKET]
    rng = np.random.default_rng(1)
    data = pd.DataFrame(rng.normal(size=(250_000, 4)), columns=["a", "b", "c", "label"]).to_csv(index=False)
    raw = _raw(bucket, ds, data.encode())
    storage = Storage()
    sizes = {"block_size": 1 << 20, "part_bytes": 5 * 1024**2, "whole_bytes": whole_bytes}
    upload = read_upload(storage, raw, bucket, ds, 2**30, **sizes)
    assert _uploads(bucket, ds) == ([] if whole_bytes else [upload.parquet.key])
    stored = upload.store(storage, f"datasets/{ds}/kept.parquet")
    upload.discard()  # after store: nothing left to drop
    assert stored.key == f"datasets/{ds}/kept.parquet" and stored.size > 5 * 1024**2
    assert _keys(bucket, ds) == [stored.key] and _uploads(bucket, ds) == []
    assert len(pd.read_parquet(io.BytesIO(storage.get_verified(stored)))) == 250_000

    dropped = read_upload(storage, raw, bucket, f"{ds}-dropped", 2**30, **sizes)
    dropped.discard()
    assert _keys(bucket, f"{ds}-dropped") == [] and _uploads(bucket, f"{ds}-dropped") == []


def test_an_aborted_multipart_upload_leaves_no_parts(stack: EmbeddedStack, ds: str) -> None:
    bucket = stack.stack.outputs[out.DATA_BUCKET]
    storage = Storage()
    upload = MultipartUpload(storage, bucket, f"datasets/{ds}/part.bin", part_bytes=5 * 1024**2)
    upload.write(b"x" * (6 * 1024**2))
    assert _uploads(bucket, ds) == [f"datasets/{ds}/part.bin"]
    upload.abort()
    assert _uploads(bucket, ds) == []
    done = MultipartUpload(storage, bucket, f"datasets/{ds}/whole.bin", part_bytes=5 * 1024**2)
    done.write(b"y" * (6 * 1024**2))
    done.write(b"z")
    done.close()
    assert done.ref is not None and done.ref.size == 6 * 1024**2 + 1
    assert storage.get_verified(done.ref)[-2:] == b"yz"
    small = MultipartUpload(storage, bucket, f"datasets/{ds}/small.bin", part_bytes=5 * 1024**2)
    small.write(b"s" * 1000)
    assert _uploads(bucket, ds) == []  # nothing sent before close: it fits in one PUT
    small.close()
    assert small.ref is not None and storage.get_verified(small.ref) == b"s" * 1000


def test_a_corrupt_line_past_the_first_block_refuses_the_upload_naming_it(
    stack: EmbeddedStack, registry: Registry, ds: str
) -> None:
    from mlops.config import DatasetConfig

    registry.datasets.put_config(ds, DatasetConfig(target="label"))
    bucket = stack.stack.outputs[out.DATA_BUCKET]
    outcome = invoke(stack, "ingest", s3_event(bucket, f"raw/{ds}/bad.csv", _failing_csv(120_000)))
    refused = outcome.payload["outcomes"][0]
    assert refused["action"] == "refused"
    assert refused["reason"] == (
        "The file is not a well-formed CSV: line 120002 has 5 fields where the header has 4."
    )
    assert registry.runs.get_run(refused["run_id"]).status == "FAILED"
    assert registry.datasets.latest_dataset_version(ds) is None and _executions(stack, ds) == []
    assert _uploads(bucket, ds) == []
