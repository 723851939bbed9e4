"""Data capture: the line format the drift evaluation reads, Firehose's limits, sampling, failures."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import numpy as np
import pytest

from mlops.observability import metrics
from mlops.serving.capture_writer import (
    MAX_LINES_PER_RECORD,
    MAX_RECORD_BYTES,
    MAX_RECORDS_PER_CALL,
    Capture,
    _calls,
    capture_lines,
    pack,
)
from tests.unit.serving.serving_testdata import MemorySink

WHEN = datetime(2025, 3, 14, 9, 26, 53, 123456, tzinfo=UTC)


def test_one_line_per_row_in_the_documented_format() -> None:
    lines = capture_lines(
        "req-1",
        "churn",
        3,
        WHEN,
        [{"tenure": 2.0, "contract": "two-year"}, {"tenure": None, "contract": "Zürich"}],
        ["no", "yes"],
        [[0.9, 0.1], [0.2, 0.8]],
    )
    assert [json.loads(line) for line in lines] == [
        {
            "request_id": "req-1",
            "model": "churn",
            "version": 3,
            "timestamp": "2025-03-14T09:26:53.123Z",
            "row": 0,
            "features": {"tenure": 2.0, "contract": "two-year"},
            "prediction": "no",
            "probabilities": [0.9, 0.1],
        },
        {
            "request_id": "req-1",
            "model": "churn",
            "version": 3,
            "timestamp": "2025-03-14T09:26:53.123Z",
            "row": 1,
            "features": {"tenure": None, "contract": "Zürich"},
            "prediction": "yes",
            "probabilities": [0.2, 0.8],
        },
    ]
    assert all(b"\n" not in line for line in lines)


def test_a_non_finite_value_is_written_as_null_so_every_line_stays_strict_json() -> None:
    (line,) = capture_lines("r", "churn", 1, WHEN, [{"a": 1.0}], ["no"], [[math.nan, math.inf]])

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in a captured line")

    assert json.loads(line, parse_constant=refuse)["probabilities"] == [None, None]


def test_regressors_have_no_probabilities() -> None:
    (line,) = capture_lines("r", "diabetes", 1, WHEN, [{"bmi": 0.1}], [151.5], None)
    assert "probabilities" not in json.loads(line)


def test_lines_pack_into_newline_terminated_records_within_firehose_limits() -> None:
    small = [b'{"row":%d}' % i for i in range(MAX_LINES_PER_RECORD * 2 + 1)]
    records = pack(small)
    assert [r.count(b"\n") for r in records] == [MAX_LINES_PER_RECORD, MAX_LINES_PER_RECORD, 1]
    assert all(r.endswith(b"\n") for r in records)
    assert b"".join(records).splitlines() == small
    big = [b"x" * (MAX_RECORD_BYTES // 3)] * 4
    assert [r.count(b"\n") for r in pack(big)] == [2, 2]
    assert all(len(r) <= MAX_RECORD_BYTES for r in pack(big))


def test_records_split_into_calls_within_put_record_batch_limits() -> None:
    many = [b"x\n"] * (MAX_RECORDS_PER_CALL + 1)
    assert [len(call) for call in _calls(many)] == [MAX_RECORDS_PER_CALL, 1]
    heavy = [b"x" * 1_000_000] * 5
    assert [len(call) for call in _calls(heavy)] == [4, 1]


def test_a_request_is_captured_whole_or_not_at_all() -> None:
    sink = MemorySink()
    draws = iter([0.1, 0.9])
    capture = Capture(sink, sample_rate=0.5, sample=lambda: next(draws), now=lambda: WHEN)
    for request in ("kept", "dropped"):
        capture.capture(request, "churn", 1, lambda: [{"a": 1.0}, {"a": 2.0}], ["no", "yes"], None)
    assert [json.loads(line)["request_id"] for line in sink.lines()] == ["kept", "kept"]
    assert len(sink.records) == 1


def test_rows_are_built_only_for_sampled_requests() -> None:
    def features() -> list[dict[str, float]]:
        raise AssertionError("features built for a request that is not captured")

    Capture(MemorySink(), sample_rate=0.0).capture("r", "churn", 1, features, ["no"], None)
    Capture(None, sample_rate=1.0).capture("r", "churn", 1, features, ["no"], None)


def test_a_capture_failure_is_counted_and_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    Capture(MemorySink(fail=True), sample_rate=1.0).capture(
        "r", "churn", 1, lambda: [{"a": 1.0}], ["no"], None
    )
    assert "Could not capture a request" in caplog.text
    assert dict(metrics.serialize_metric_set())["CaptureFailure"] == [1.0]


def test_captured_rows_are_counted() -> None:
    Capture(MemorySink(), sample_rate=1.0).capture(
        "r", "churn", 1, lambda: [{"a": 1.0}] * 3, ["no"] * 3, None
    )
    assert dict(metrics.serialize_metric_set())["CapturedRows"] == [3.0]


def test_probabilities_as_an_array_are_captured_as_rows() -> None:
    # The service hands over the model's probabilities as a float64 array (what the response is
    # written from); captured lines carry the same rows as from lists.
    probabilities = np.array([[0.9, 0.1], [np.nan, 0.7000000476837158]])
    from_array, from_lists = MemorySink(), MemorySink()
    for sink, given in ((from_array, probabilities), (from_lists, probabilities.tolist())):
        Capture(sink, sample_rate=1.0, now=lambda: WHEN).capture(
            "r", "churn", 1, lambda: [{"a": 1.0}, {"a": 2.0}], ["no", "yes"], given
        )
    assert from_array.lines() == from_lists.lines()
    assert [json.loads(line)["probabilities"] for line in from_array.lines()] == [
        [0.9, 0.1],
        [None, 0.7000000476837158],
    ]
