"""Validation over Parquet record batches against validation of the whole frame: the same report."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlops.config import DatasetConfig
from mlops.ml import csvstream, validation_stream
from mlops.ml import dataset as ds
from mlops.ml.validation import AcceptedSchema, validate
from mlops.ml.validation_stream import conflicting_rows, count_pairs, validate_parquet
from tests.unit.ml.test_ml_csvstream import SAMPLES, MemoryOutput, assert_close

TARGETS = {
    "demo-wine": ("quality", "regression"),
    "iris": ("target", "classification"),
    "diabetes": ("target", "regression"),
    "breast-cancer": ("target", "classification"),
    "wine": ("target", "classification"),
    "test-binary": ("churned", "classification"),
    "test-multiclass": ("tier", "classification"),
    "test-regression": ("target", "regression"),
}


def streamed_parquet(data: bytes) -> bytes:
    outputs: list[MemoryOutput] = []

    def open_output() -> MemoryOutput:
        outputs.append(MemoryOutput())
        return outputs[-1]

    csvstream.stream_csv(lambda: io.BytesIO(data), open_output, block_size=1 << 20)
    return outputs[-1].getvalue()


def assert_same_report(
    parquet: bytes, config: DatasetConfig, previous: AcceptedSchema | None = None, batch_rows: int = 64
) -> None:
    whole = validate(ds.read_parquet_bytes(parquet), config, previous)
    original = validation_stream.BATCH_ROWS
    validation_stream.BATCH_ROWS = batch_rows
    try:
        streamed = validate_parquet(io.BytesIO(parquet), config, previous)
    finally:
        validation_stream.BATCH_ROWS = original
    assert_close(streamed.model_dump(mode="json"), whole.model_dump(mode="json"))


@pytest.mark.parametrize("name", list(SAMPLES))
def test_sample_datasets_validate_to_the_same_report(name: str) -> None:
    target, task = TARGETS[name]
    parquet = streamed_parquet(SAMPLES[name]())
    assert_same_report(parquet, DatasetConfig(target=target, task=task))  # type: ignore[arg-type]


def test_rules_that_fire_fire_the_same_over_batches() -> None:
    """Every rule that needs the whole column: parsing, identifiers, duplicates, conflicts, gaps."""
    rng = np.random.default_rng(3)
    rows = 600
    frame = pd.DataFrame(
        {
            "row_id": np.arange(rows),
            "sorted_big": np.arange(rows) * 1000,
            "code": [f"c{i}" for i in range(rows)],
            "price": [f"{v:.2f}".replace(".", ",") for v in rng.normal(10, 2, rows)],
            "mostly": [str(v) if i % 50 else "abc" for i, v in enumerate(rng.integers(0, 9, rows))],
            "gappy": np.where(rng.random(rows) < 0.9, np.nan, 1.0),
            "const": 7,
            "flag": np.where(rng.random(rows) < 0.1, None, rng.random(rows) < 0.5),
            "x": np.r_[rng.integers(0, 3, rows - 1), np.inf].astype(float),
            "label": rng.choice(["a", "b", "c", "d"], rows),
        }
    )
    relabelled = frame.iloc[40:50].assign(label="e")
    frame = pd.concat([frame, frame.iloc[:10], relabelled], ignore_index=True)  # repeats, conflicts
    parquet = ds.to_parquet_bytes(frame)
    previous = AcceptedSchema(column_types={"row_id": "string", "gone": "float", "x": "float"})
    for task, target in (("classification", "label"), ("regression", "x"), ("classification", "nope")):
        config = DatasetConfig(target=target, task=task)  # type: ignore[arg-type]
        assert_same_report(parquet, config, previous)
    report = validate_parquet(io.BytesIO(parquet), DatasetConfig(target="label"), previous)
    fired = {check.rule for check in report.checks if check.status != "pass"}
    assert {"numeric_parsing", "identifier_column", "column_removed", "feature_missing"} <= fired
    assert {"infinite_values", "constant_column", "column_retyped"} <= fired
    assert report.summary["duplicate_rows"] == 10 and report.summary["conflicting_label_rows"] == 20


def test_pairs_and_conflicts_count_as_the_frame_does() -> None:
    keys = np.array([5, 5, 5, 7, 7, 9], dtype=np.uint64)
    labels = np.array([1, 1, 2, 3, 3, 4], dtype=np.uint64)
    assert count_pairs(keys, labels) == 4  # (5,1) (5,2) (7,3) (9,4): two rows repeat
    assert conflicting_rows(keys, labels) == 3  # every row of key 5
    assert count_pairs(keys[:0], labels[:0]) == 0 and conflicting_rows(keys[:0], labels[:0]) == 0


def test_text_parsing_over_batches_equals_parsing_over_the_column() -> None:
    column = pd.Series(["1", "2", "x", None, "3", "x", " 4 "])
    whole, batches = validation_stream.TextParsing(), validation_stream.TextParsing()
    whole.add(column)
    batches.add(column[:3])
    batches.add(column[3:])
    assert batches == whole
    finding = batches.finding("c", 0.5)
    assert finding is not None and (finding.action, finding.present, finding.invalid) == ("parsed", 6, 2)
    assert finding.example == "x"


def test_a_parquet_without_statistics_validates_to_the_same_report() -> None:
    """Null counts come from the row groups' statistics when the file has them; a file written without
    (by another writer) is read for them, with the same report."""
    import pyarrow.parquet as pq

    frame = pd.DataFrame(
        {
            "n": [1, None, 3, 4, None, 6, 7, 8] * 40,
            "t": ["1", "2", None, "x", "5", "6", "7", "8"] * 40,
            "flag": [True, False, None, True, True, False, True, False] * 40,
            "y": ["a", "b"] * 160,
        }
    )
    config = DatasetConfig(target="y", task="classification")
    reports = []
    for statistics in (True, False):
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame), buffer, write_statistics=statistics, row_group_size=100)
        reports.append(validate_parquet(io.BytesIO(buffer.getvalue()), config, None).model_dump(mode="json"))
        assert_same_report(buffer.getvalue(), config)
    assert reports[0] == reports[1]
