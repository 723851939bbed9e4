"""The capture reader over a window of many objects and blocks, parsed on several threads.

Malformed lines inside a big window are counted and skipped, never fatal, and every good row is
kept in its order: the same columns as reading the window one block at a time, and as the record
path alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from moto import mock_aws

from mlops.drift import capture_reader
from mlops.drift.capture_reader import CapturedTraffic, CaptureReader, _add_text, _Columns, _Counts
from mlops.serving.capture_writer import capture_lines
from mlops.signature import FeatureSpec, Signature

BUCKET = "capture"
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
WINDOW = (START, START + timedelta(hours=2))
SIGNATURE = Signature(
    task="classification",
    target="y",
    features=[
        FeatureSpec(name="age", input_name="age", kind="numeric", dtype="float"),
        FeatureSpec(name="plan", input_name="plan", kind="categorical", dtype="string"),
    ],
)
# Lines no writer writes, one of them every so often inside the window.
BROKEN = (
    b'{"request_id":"x","model":"churn","version":3,"timestamp":"2026-11-23T10:',  # cut off
    b"\x00\x01 not json",
    b'{"request_id":"y","model":"churn","version":3,"timestamp":"2026-11-23T10:30:00.000Z",'
    b'"row":0,"features":[1,2],"prediction":"stay"}',  # features not an object
)


def window_objects(rng: np.random.Generator, objects: int, requests: int) -> Iterator[tuple[bytes, int]]:
    """Each object's bytes and how many malformed lines it holds."""
    plans = np.array(["basic", "pro", "team", None], dtype=object)
    for number in range(objects):
        parts: list[bytes] = []
        broken = 0
        for request in range(requests):
            at = START + timedelta(seconds=number * requests + request)
            rows: list[dict[str, Any]] = [
                {"age": float(age) if age > 20 else None, "plan": plan}
                for age, plan in zip(
                    rng.normal(40, 12, 20).round(2), plans[rng.integers(0, 4, 20)], strict=True
                )
            ]
            labels = rng.choice(["stay", "churn"], 20).tolist()
            parts += capture_lines(f"r-{number}-{request}", "churn", 3, at, rows, labels, None)
            if request % 37 == 5:
                parts.append(BROKEN[request % len(BROKEN)])
                broken += 1
        yield b"\n".join(parts) + b"\n", broken


def record_path(bodies: list[bytes]) -> CapturedTraffic:
    columns, counts = _Columns(SIGNATURE), _Counts()
    for body in bodies:
        _add_text(columns, counts, body.decode(), "churn", 3, *WINDOW)
    return columns.traffic(len(bodies), counts)


def assert_same(left: CapturedTraffic, right: CapturedTraffic) -> None:
    for name in left.features:
        np.testing.assert_array_equal(np.asarray(left.features[name]), np.asarray(right.features[name]))
    np.testing.assert_array_equal(np.asarray(left.predictions), np.asarray(right.predictions))
    assert list(left.request_ids) == list(right.request_ids)
    assert list(left.row_numbers) == list(right.row_numbers)
    assert (left.malformed, left.other_versions, left.outside_window) == (
        right.malformed,
        right.other_versions,
        right.outside_window,
    )


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_malformed_lines_in_a_window_of_many_blocks_are_counted_and_skipped(
    monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    # Small blocks: a few hundred of them, most parsed by pyarrow, those with a broken line by records.
    monkeypatch.setattr(capture_reader, "BLOCK_BYTES", 16 * 1024)
    rng = np.random.default_rng(7)
    generated = list(window_objects(rng, objects=3, requests=200))
    bodies = [body for body, _ in generated]
    with mock_aws():
        reader = CaptureReader(BUCKET, workers=workers)
        reader.s3.create_bucket(Bucket=BUCKET)
        for number, body in enumerate(bodies):
            key = f"capture/churn/{START.date().isoformat()}/part-{number:05d}"
            reader.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        traffic = reader.read("churn", 3, SIGNATURE, *WINDOW)

    assert traffic.objects == 3
    assert traffic.malformed == sum(broken for _, broken in generated) > 15
    assert traffic.rows == 3 * 200 * 20  # every good row kept
    assert_same(traffic, record_path(bodies))
    # In their order: each request's rows follow one another, requests in the order written.
    assert traffic.request_ids[:21] == ["r-0-0"] * 20 + ["r-0-1"]
    assert traffic.row_numbers[:21] == [*range(20), 0]
