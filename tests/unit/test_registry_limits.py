"""The registry's last line: a record a bound missed fails with a sentence, never DynamoDB's raw error;
a key a user can make long is stored under its digest and found again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlops.errors import RecordTooLarge
from mlops.models import ArtifactRef, RawObject, RawObjectRef
from mlops.registry import Registry
from tests.factories import model_version, moto_registry


@pytest.fixture()
def registry() -> Iterator[Registry]:
    with moto_registry() as registry:
        yield registry


def test_a_record_past_the_item_limit_is_refused_with_a_sentence(registry: Registry) -> None:
    model = model_version(
        "big",
        params={"notes": "p" * 500_000},
        artifacts={"onnx": ArtifactRef(bucket="b", key="k", sha256="0" * 64, size=1)},
    )
    with pytest.raises(
        RecordTooLarge, match=r"^The ModelVersion record is \d+ KB, past the metadata table's"
    ):
        registry.put_model_version(model)
    assert registry.find_model_version("big", 1) is None


def test_a_key_past_the_sort_key_budget_is_stored_under_its_digest(registry: Registry) -> None:
    key = "raw/long/" + "é" * 500 + ".csv"  # 1,013 bytes in UTF-8: with bucket and etag, past 1,024
    raw = RawObjectRef(bucket="mlops-data", key=key, etag="e" * 32, size=10)
    stored, created = registry.put_raw_object(RawObject(dataset="long", raw=raw, status="ACCEPTED"))
    assert created and stored.raw.key == key
    found = registry.get_raw_object("long", "mlops-data", key, "e" * 32)
    assert found is not None and found.raw.key == key
