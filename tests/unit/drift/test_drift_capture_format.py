"""Parsing captured JSON Lines: concatenated records, malformed stretches, the window's day prefixes."""

from __future__ import annotations

from datetime import UTC, datetime

from mlops.drift.capture_reader import day_prefixes, iter_records, parse_timestamp


def test_records_one_per_line_run_together_and_broken() -> None:
    text = '{"a": 1}\n{"a": 2}{"a": 3}\n{"a": 4, "b"\n[1, 2]\n\n  {"a": 5}\nnot json at all\n{"a": 6}'
    records = list(iter_records(text))
    assert [r["a"] if r else None for r in records] == [1, 2, 3, None, None, 5, None, 6]


def test_timestamps() -> None:
    assert parse_timestamp("2026-11-23T10:00:00.123Z") == datetime(2026, 11, 23, 10, 0, 0, 123000, tzinfo=UTC)
    assert parse_timestamp("2026-11-23T10:00:00") == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert parse_timestamp("yesterday") is None and parse_timestamp(17) is None


def test_day_prefixes_cover_the_window() -> None:
    since = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
    until = datetime(2026, 11, 23, 0, 5, tzinfo=UTC)
    assert day_prefixes("iris", since, until) == [
        "capture/iris/2026-11-21/",
        "capture/iris/2026-11-22/",
        "capture/iris/2026-11-23/",
    ]
