"""Out-of-limit data shapes: no table, value or key a user uploads can pass a record or key limit.

Before: a 2,000-column table or one 5 MB value made the dataset-version item pass DynamoDB's 400 KB,
ingest failed three times and no run was recorded; a categorical column with 6,000 long values did the
same to the model item at training; a 1,005-byte S3 key made the raw record's sort key pass 1,024 bytes.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd

from mlops import aws
from mlops.config import DatasetConfig
from mlops.local.embedded import EmbeddedStack
from mlops.registry import Registry
from tests.faults.conftest import assert_one_sentence, csv_of, good_upload_trains, upload
from tests.integration.conftest import wait_for_run
from tests.integration.test_pipeline import iris_csv

ITEM_LIMIT = 400 * 1024


def _item_bytes(registry: Registry, pk: str, sk: str) -> int:
    item = aws.dynamodb().get_item(TableName=registry.table.name, Key={"pk": {"S": pk}, "sk": {"S": sk}})[
        "Item"
    ]
    return sum(len(k) + len(json.dumps(v)) for k, v in item.items())


def test_a_wide_table_is_recorded_and_trains(
    embedded: EmbeddedStack, registry: Registry, data_bucket: str
) -> None:
    """2,000 columns x 300 rows (12 MB): a bounded version item, its profile in S3, a trained model."""
    rng = np.random.default_rng(7)
    wide = pd.DataFrame(
        rng.normal(size=(300, 1_999)).round(3),
        columns=[f"feature_with_a_long_name_{i:05d}" for i in range(1_999)],
    )
    wide["species"] = np.where(wide.iloc[:, 0] > 0, "a", "b")
    registry.datasets.put_config("wide", DatasetConfig(target="species"))
    raw = upload(registry, data_bucket, "wide", "raw/wide/wide.csv", csv_of(wide))
    assert raw.status == "ACCEPTED" and raw.run_id, raw.reason
    run = wait_for_run(registry, raw.run_id, timeout_s=600)
    assert run.status == "SUCCEEDED", (run.failed_stage, run.error)
    version = registry.datasets.get_dataset_version("wide", run.dataset_version or "")
    assert version.column_count == 2_000 and version.details is not None
    assert _item_bytes(registry, "DS#wide", f"VER#{version.sha256}") < ITEM_LIMIT
    details = json.loads(aws.s3().get_object(Bucket=data_bucket, Key=version.details.key)["Body"].read())
    assert len(details["profile"]["columns"]) == 2_000
    model = registry.models.get_model_version("wide", run.model_version or 0)
    assert _item_bytes(registry, "MODEL#wide", f"VER#{model.version:08d}") < ITEM_LIMIT


def test_one_huge_value_is_profiled_in_s3_and_trains(
    embedded: EmbeddedStack, registry: Registry, data_bucket: str
) -> None:
    """One 5 MB text value: the profile keeps it in S3, the item stays small, the run trains."""
    frame = pd.read_csv(io.BytesIO(iris_csv()))
    frame["note"] = "short"
    frame.loc[0, "note"] = "x" * (5 * 1024 * 1024)
    registry.datasets.put_config("huge-value", DatasetConfig(target="species"))
    raw = upload(registry, data_bucket, "huge-value", "raw/huge-value/data.csv", csv_of(frame))
    assert raw.run_id, raw.reason
    run = wait_for_run(registry, raw.run_id)
    assert run.status in ("SUCCEEDED", "FAILED"), run.status
    if run.status == "FAILED":
        assert_one_sentence(run.error)
    assert _item_bytes(registry, "DS#huge-value", f"VER#{run.dataset_version}") < ITEM_LIMIT
    frame.loc[0, "note"] = "short again"
    good_upload_trains(registry, data_bucket, "huge-value", "again.csv", csv_of(frame))


def test_many_long_categories_train_with_the_signature_in_s3(
    embedded: EmbeddedStack, registry: Registry, data_bucket: str
) -> None:
    """6,000 distinct 80-character categories: the model item carries no inline signature, serving
    and conversion read the verified signature artifact, and the model is promoted."""
    rng = np.random.default_rng(11)
    categories = [f"{i:06d}-" + "c" * 73 for i in range(6_000)] * 2  # twice each: not an identifier
    frame = pd.DataFrame(
        {
            "city": categories,
            "x": rng.normal(size=len(categories)).round(3),
            "species": np.where(rng.random(len(categories)) < 0.5, "a", "b"),
        }
    )
    registry.datasets.put_config("cities", DatasetConfig(target="species"))
    raw = upload(registry, data_bucket, "cities", "raw/cities/cities.csv", csv_of(frame))
    assert raw.run_id, raw.reason
    run = wait_for_run(registry, raw.run_id, timeout_s=600)
    assert run.status == "SUCCEEDED", (run.failed_stage, run.error)
    model = registry.models.get_model_version("cities", run.model_version or 0)
    assert model.signature is None and "signature" in model.artifacts
    assert _item_bytes(registry, "MODEL#cities", f"VER#{model.version:08d}") < ITEM_LIMIT
    response = embedded.invoke_inference(
        {
            "resource": "/{proxy+}",
            "path": "/models/cities",
            "httpMethod": "GET",
            "headers": {},
            "pathParameters": {"proxy": "models/cities"},
            "requestContext": {"requestId": "r1", "stage": "local"},
            "body": None,
            "isBase64Encoded": False,
        }
    )
    assert response["statusCode"] == 200, response["body"]


def test_a_1005_byte_key_is_ingested(embedded: EmbeddedStack, registry: Registry, data_bucket: str) -> None:
    """A key S3 allows (up to 1,024 bytes) is recorded under its digest and its upload trains."""
    key = "raw/long-key/" + "k" * (1_005 - len("raw/long-key/") - len(".csv")) + ".csv"
    assert len(key.encode()) == 1_005
    registry.datasets.put_config("long-key", DatasetConfig(target="species"))
    raw = upload(registry, data_bucket, "long-key", key, iris_csv())
    assert raw.raw.key == key and raw.run_id, raw.reason
    run = wait_for_run(registry, raw.run_id)
    assert run.status == "SUCCEEDED", (run.failed_stage, run.error)


def test_huge_column_names_end_in_a_bounded_sentence(
    embedded: EmbeddedStack, registry: Registry, data_bucket: str
) -> None:
    """Three constant columns with 120 KB names: the validation summary quotes them (its checks and
    excluded columns) and stays bounded, the run ends with one sentence, and uploads still train."""
    names = [f"{i}" + "n" * 120_000 for i in range(3)]
    header = ",".join([*names, "x", "species"])
    rows = "\n".join(f"1,1,1,{i % 7},{'a' if i % 2 else 'b'}" for i in range(60))
    registry.datasets.put_config("long-names", DatasetConfig(target="species"))
    raw = upload(
        registry, data_bucket, "long-names", "raw/long-names/data.csv", f"{header}\n{rows}\n".encode()
    )
    assert raw.run_id, raw.reason
    run = wait_for_run(registry, raw.run_id)
    assert run.status in ("SUCCEEDED", "FAILED"), run.status
    if run.status == "FAILED":
        assert_one_sentence(run.error)
    validation = registry.runs.get_stage(run.run_id, "validation")
    assert validation is not None and validation.status in ("SUCCEEDED", "FAILED")
    good_upload_trains(registry, data_bucket, "after-long-names")  # (these columns fail the schema check)
