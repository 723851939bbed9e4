"""The training pipeline end to end: the real state machine in moto, the real handlers in-process."""

from __future__ import annotations

import io
import logging
from typing import Any
from urllib.parse import unquote_plus

import pandas as pd
import pytest
from sklearn.datasets import load_iris

from mlops import aws
from mlops.config import DatasetConfig
from mlops.local.embedded import EmbeddedStack
from mlops.registry import Registry
from tests.integration.conftest import wait_for, wait_for_run


def _csv(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def iris_csv() -> bytes:
    data = load_iris(as_frame=True)
    frame = data.frame.copy()
    frame["species"] = [data.target_names[i] for i in data.target]
    return _csv(frame.drop(columns=["target"]))


def upload(bucket: str, dataset: str, name: str, body: bytes) -> dict[str, Any]:
    key = f"raw/{dataset}/{name}"
    put = aws.s3().put_object(Bucket=bucket, Key=key, Body=body)
    return {"key": key, "etag": put["ETag"].strip('"')}


def outcome_of(registry: Registry, dataset: str, bucket: str, key: str, etag: str) -> Any:
    def settled() -> Any:
        raw = registry.datasets.get_raw_object(dataset, bucket, key, etag)
        return raw if raw is not None and (raw.run_id or raw.status != "ACCEPTED") else None

    return wait_for(settled)


def test_upload_trains_and_promotes(embedded: EmbeddedStack, registry: Registry, data_bucket: str) -> None:
    registry.datasets.put_config("iris", DatasetConfig(target="species"))
    sent = upload(data_bucket, "iris", "iris.csv", iris_csv())
    raw = outcome_of(registry, "iris", data_bucket, sent["key"], sent["etag"])
    assert raw.status == "ACCEPTED", raw.reason
    run = wait_for_run(registry, raw.run_id)
    assert run.status == "SUCCEEDED", (run.failed_stage, run.error)
    assert run.promoted and run.model_version == 1
    assert [s.name for s in run.stages] == ["ingest", "validation", "training", "conversion", "promotion"]
    assert all(s.status == "SUCCEEDED" and s.duration_s is not None for s in run.stages)
    model = registry.models.get_production("iris")
    assert model is not None and model.version == 1 and model.status == "production"
    assert {"onnx", "signature", "sklearn", "holdout", "baseline"} <= set(model.artifacts)
    version = registry.datasets.get_dataset_version("iris", model.dataset_version)
    assert version.raw.key == sent["key"] and version.rows == 150


def test_identical_content_trains_once(embedded: EmbeddedStack, registry: Registry, data_bucket: str) -> None:
    registry.datasets.put_config("iris2", DatasetConfig(target="species"))
    first = upload(data_bucket, "iris2", "a.csv", iris_csv())
    raw = outcome_of(registry, "iris2", data_bucket, first["key"], first["etag"])
    wait_for_run(registry, raw.run_id)
    second = upload(data_bucket, "iris2", "b.csv", iris_csv())
    again = outcome_of(registry, "iris2", data_bucket, second["key"], second["etag"])
    assert again.status == "DUPLICATE" and "identical" in (again.reason or "")
    assert len(registry.runs.list_runs("iris2")) == 1


class IngestLog(logging.Handler):
    """The ingest function's "Ingested object" lines, as its log shows them."""

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "Ingested object":
            self.outcomes.append((unquote_plus(getattr(record, "key", "")), getattr(record, "action", "")))


def test_a_multipart_upload_is_ingested_once(
    embedded: EmbeddedStack, registry: Registry, data_bucket: str
) -> None:
    """`mlops upload` sends files past 8 MiB in parts. AWS notifies ObjectCreated:CompleteMultipartUpload
    once; the embedded stack also delivered moto's ObjectCreated:Put for the same object, so ingest ran
    twice, both reading the whole file when they overlapped."""
    registry.datasets.put_config("iris-parts", DatasetConfig(target="species"))
    key = "raw/iris-parts/iris.csv"
    s3 = aws.s3()
    upload_id = s3.create_multipart_upload(Bucket=data_bucket, Key=key)["UploadId"]
    part = s3.upload_part(Bucket=data_bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=iris_csv())
    log = IngestLog()
    logging.getLogger("mlops").addHandler(log)
    try:
        done = s3.complete_multipart_upload(
            Bucket=data_bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )
        raw = outcome_of(registry, "iris-parts", data_bucket, key, done["ETag"].strip('"'))
        run = wait_for_run(registry, raw.run_id)
    finally:
        logging.getLogger("mlops").removeHandler(log)
    assert run.status == "SUCCEEDED", (run.failed_stage, run.error)
    assert log.outcomes == [(key, "started")]
    assert len(registry.runs.list_runs("iris-parts")) == 1
    model = registry.models.get_production("iris-parts")
    assert model is not None and model.version == 1


BAD_UPLOADS = {
    "empty": (b"", "ingest", "empty"),
    "binary": (bytes(range(256)) * 8, "ingest", "binary"),
    "header_only": (b"a,b,species\n", "ingest", "header"),
}


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_bad_upload_is_refused_and_production_untouched(
    embedded: EmbeddedStack, registry: Registry, data_bucket: str, case: str
) -> None:
    body, stage, word = BAD_UPLOADS[case]
    registry.datasets.put_config("iris", DatasetConfig(target="species"))
    before = registry.models.get_alias("iris")
    sent = upload(data_bucket, "iris", f"bad-{case}.csv", body)
    raw = outcome_of(registry, "iris", data_bucket, sent["key"], sent["etag"])
    run = wait_for_run(registry, raw.run_id)
    assert run.status == "FAILED" and run.failed_stage == stage
    assert word in (run.error or "").lower(), run.error
    assert registry.models.get_alias("iris") == before
