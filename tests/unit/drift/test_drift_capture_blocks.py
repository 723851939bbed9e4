"""The fast path of the capture reader (pyarrow blocks) gives exactly what the record path gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np

from mlops.drift.capture_blocks import MIN_SPLIT_BYTES, BlockParser, ParsedBlock
from mlops.drift.capture_reader import CapturedTraffic, _add_text, _Columns, _Counts
from mlops.serving.capture_writer import capture_lines
from mlops.signature import FeatureSpec, Signature

START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
WINDOW = (START, START + timedelta(hours=1))


def signature(task: Literal["classification", "regression"] = "classification") -> Signature:
    return Signature(
        task=task,
        target="y",
        features=[
            FeatureSpec(name="age", input_name="age", kind="numeric", dtype="float"),
            FeatureSpec(name="count", input_name="count", kind="numeric", dtype="integer"),
            FeatureSpec(name="plan", input_name="plan", kind="categorical", dtype="string"),
        ],
    )


def lines(version: int, at: datetime, rows: list[dict[str, Any]], labels: list[Any], request: str) -> bytes:
    return b"".join(line + b"\n" for line in capture_lines(request, "churn", version, at, rows, labels, None))


def writer_block() -> bytes:
    long_plan = "p" * 300  # bounded by the writer, keyed the same on both paths
    first: list[dict[str, Any]] = [
        {"age": None, "count": 3, "plan": None},
        {"age": 41.5, "count": None, "plan": "pro"},
    ]
    second: list[dict[str, Any]] = [
        {"age": 1e300, "count": 7, "plan": "naïve"},
        {"count": 2, "plan": long_plan},
    ]
    return (
        lines(3, START + timedelta(minutes=5), first, ["stay", None], "r-1")
        + lines(2, START + timedelta(minutes=6), first, ["churn", "stay"], "r-2")  # another version
        + lines(3, START - timedelta(minutes=1), second, ["churn", "stay"], "r-3")  # before the window
        + lines(3, START + timedelta(minutes=7), second, ["churn", "stay"], "r-4")
        + lines(3, START + timedelta(minutes=9), first, ["stay", "churn"], "r-1")
    )


def both_paths(block: bytes, sig: Signature) -> tuple[CapturedTraffic, CapturedTraffic, bool]:
    fast, counts = _Columns(sig), _Counts()
    parsed = BlockParser("churn", 3, sig, *WINDOW).parse(block)
    if parsed is not None:
        counts.other_versions += parsed.other_versions
        counts.outside_window += parsed.outside_window
        fast.add_block(parsed)
    else:
        _add_text(fast, counts, block.decode(), "churn", 3, *WINDOW)
    slow, slow_counts = _Columns(sig), _Counts()
    _add_text(slow, slow_counts, block.decode(), "churn", 3, *WINDOW)
    return fast.traffic(1, counts), slow.traffic(1, slow_counts), parsed is not None


def assert_same(fast: CapturedTraffic, slow: CapturedTraffic) -> None:
    assert fast.features.keys() == slow.features.keys()
    for name in fast.features:
        left, right = np.asarray(fast.features[name]), np.asarray(slow.features[name])
        np.testing.assert_array_equal(left, right)
        assert left.dtype.kind == right.dtype.kind
    np.testing.assert_array_equal(fast.predictions, slow.predictions)
    assert fast.request_ids == slow.request_ids and fast.row_numbers == slow.row_numbers
    counts = (fast.malformed, fast.other_versions, fast.outside_window)
    assert counts == (slow.malformed, slow.other_versions, slow.outside_window)


def test_lines_as_the_writer_writes_them_take_the_fast_path_with_the_same_result() -> None:
    fast, slow, took_fast_path = both_paths(writer_block(), signature())
    assert took_fast_path
    assert_same(fast, slow)
    assert fast.rows == 6 and fast.other_versions == 2 and fast.outside_window == 2
    # Null first, then values, in order of first appearance: the counts' order is the record path's.
    assert fast.features["plan"].keys[0] == ""  # type: ignore[union-attr]
    ages = np.asarray(fast.features["age"])
    assert np.isnan(ages[0]) and ages[2] == 1e300 and np.isnan(ages[3])  # null and absent are NaN
    assert list(np.asarray(fast.predictions)[:2]) == ["stay", ""]


def test_regression_and_numeric_labels_agree() -> None:
    rows: list[dict[str, Any]] = [
        {"age": 30.0, "count": 1, "plan": "a"},
        {"age": None, "count": 2, "plan": "b"},
    ]
    block = lines(3, START + timedelta(minutes=1), rows, [1.5, None], "r-9")
    fast, slow, took_fast_path = both_paths(block, signature("regression"))
    assert took_fast_path
    assert_same(fast, slow)
    block = lines(3, START + timedelta(minutes=1), rows, [1, 0], "r-9")
    fast, slow, took_fast_path = both_paths(block, signature())
    assert took_fast_path and list(np.asarray(fast.predictions)) == ["1", "0"]
    assert_same(fast, slow)


def test_blocks_the_writer_never_writes_take_the_record_path() -> None:
    good = writer_block()
    # Records run together without a line break: pyarrow reads them as the record path does.
    fast, slow, _ = both_paths(good.replace(b"}\n{", b"}{", 1), signature())
    assert_same(fast, slow)
    assert fast.rows == 6
    for odd in (
        good + b"not json\n",
        good.replace(b'"count":3', b'"count":"3"', 1),  # a number as text
        good.replace(b'"plan":"pro"', b'"plan":5', 1),  # a category as a number
        good.replace(b'Z"', b'+00:00"', 1),  # another spelling of the timestamp
        good.replace(b'"row":0,', b"", 1),  # no row number
    ):
        fast, slow, took_fast_path = both_paths(odd, signature())
        assert not took_fast_path
        assert_same(fast, slow)
    assert slow.rows >= 5


def big_writer_block(requests: int) -> bytes:
    rng = np.random.default_rng(5)
    parts = []
    for request in range(requests):
        rows: list[dict[str, Any]] = [
            {"age": float(age), "count": int(count), "plan": plan}
            for age, count, plan in zip(
                rng.normal(40, 9, 20).round(1),
                rng.integers(0, 9, 20),
                rng.choice(["basic", "pro"], 20),
                strict=True,
            )
        ]
        at = START + timedelta(seconds=request)
        parts.append(lines(3, at, rows, rng.choice(["stay", "churn"], 20).tolist(), f"r-{request}"))
    return b"".join(parts)


def pieces_as_traffic(pieces: list[ParsedBlock | bytes], sig: Signature) -> CapturedTraffic:
    columns, counts = _Columns(sig), _Counts()
    for piece in pieces:
        if isinstance(piece, bytes):
            _add_text(columns, counts, piece.decode(), "churn", 3, *WINDOW)
        else:
            counts.other_versions += piece.other_versions
            counts.outside_window += piece.outside_window
            columns.add_block(piece)
    return columns.traffic(1, counts)


def test_a_malformed_line_sends_only_its_neighbours_to_the_record_path() -> None:
    good = big_writer_block(200)  # 4,000 lines, about 600 KiB
    middle = good.index(b"\n", len(good) // 3) + 1
    block = good[:middle] + b'{"request_id":"cut-off","model":"churn","ver\n' + good[middle:]
    parser = BlockParser("churn", 3, signature(), *WINDOW)
    assert parser.parse(good) is not None and parser.ready
    pieces = parser.parse_pieces(block)
    raw = [piece for piece in pieces if isinstance(piece, bytes)]
    assert len(raw) == 1 and len(raw[0]) <= MIN_SPLIT_BYTES and b"cut-off" in raw[0]
    fast = pieces_as_traffic(pieces, signature())
    slow, slow_counts = _Columns(signature()), _Counts()
    _add_text(slow, slow_counts, block.decode(), "churn", 3, *WINDOW)
    assert_same(fast, slow.traffic(1, slow_counts))
    assert fast.rows == 4000 and fast.malformed == 1


def test_a_block_that_does_not_fit_anywhere_goes_to_the_record_path_whole() -> None:
    # Another spelling of every timestamp: no half fits, so the block is not cut any further.
    block = big_writer_block(200).replace(b'Z"', b'+00:00"')
    parser = BlockParser("churn", 3, signature(), *WINDOW)
    assert parser.parse(big_writer_block(2)) is not None
    assert parser.parse_pieces(block) == [block]
