"""The registry's last line: a record a bound missed fails with a sentence, never DynamoDB's raw error;
a key a user can make long is stored under its digest and found again."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from moto import mock_aws

from mlops import aws
from mlops.errors import RecordTooLarge
from mlops.models import ArtifactRef, ModelVersion, RawObject, RawObjectRef
from mlops.registry import Registry
from tests.integration.inference_fixtures import TABLE, create_table


@pytest.fixture()
def registry() -> Iterator[Registry]:
    saved = dict(os.environ)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            aws.reset_clients()
            create_table()
            yield Registry(TABLE)
    finally:
        aws.reset_clients()
        os.environ.clear()
        os.environ.update(saved)


def test_a_record_past_the_item_limit_is_refused_with_a_sentence(registry: Registry) -> None:
    model = ModelVersion(
        name="big",
        version=1,
        task="classification",
        dataset_version="0" * 64,
        run_id="big-upload-1",
        params={"notes": "p" * 500_000},
        artifacts={"onnx": ArtifactRef(bucket="b", key="k", sha256="0" * 64, size=1)},
    )
    with pytest.raises(
        RecordTooLarge, match=r"^The ModelVersion record is \d+ KB, past the metadata table's"
    ):
        registry.models.create_model_version(model)
    assert registry.models.find_model_version("big", 1) is None


def test_a_key_past_the_sort_key_budget_is_stored_under_its_digest(registry: Registry) -> None:
    key = "raw/long/" + "é" * 500 + ".csv"  # 1,013 bytes in UTF-8: with bucket and etag, past 1,024
    raw = RawObjectRef(bucket="mlops-data", key=key, etag="e" * 32, size=10)
    stored, created = registry.datasets.put_raw_object(RawObject(dataset="long", raw=raw, status="ACCEPTED"))
    assert created and stored.raw.key == key
    found = registry.datasets.get_raw_object("long", "mlops-data", key, "e" * 32)
    assert found is not None and found.raw.key == key
