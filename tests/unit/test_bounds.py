"""The bounds on what user input can make the stack store (mlops.bounds): pure functions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mlops.bounds import (
    MAX_KEY_PART_BYTES,
    MAX_MESSAGE_CHARS,
    MAX_VALUE_CHARS,
    bound_document,
    bound_key_part,
    bound_message,
    bound_row,
    bound_value,
)


@given(st.text(max_size=2_000))
def test_a_bounded_value_is_short_stable_and_bounding_twice_changes_nothing(text: str) -> None:
    bounded = bound_value(text)
    assert len(bounded) <= MAX_VALUE_CHARS
    assert bound_value(bounded) == bounded
    assert bound_value(text) == bounded
    if len(text) <= MAX_VALUE_CHARS:
        assert bounded == text


def test_long_values_keep_their_start_and_stay_distinct() -> None:
    one, other = "a" * 1_000 + "1", "a" * 1_000 + "2"
    assert bound_value(one) != bound_value(other)
    assert bound_value(one).startswith("a" * 200)


def test_messages_keep_their_start() -> None:
    assert bound_message("short.") == "short."
    long = bound_message("x" * 10_000)
    assert len(long) == MAX_MESSAGE_CHARS and long.endswith("…")


def test_key_parts_past_their_budget_become_their_digest() -> None:
    assert bound_key_part("raw/a.csv") == "raw/a.csv"
    hashed = bound_key_part("é" * MAX_KEY_PART_BYTES)  # two bytes each in UTF-8
    assert hashed.startswith("sha256:") and len(hashed) == len("sha256:") + 64


def test_rows_count_what_was_shortened() -> None:
    row, shortened = bound_row({"a": "x" * 5_000, "b": 1.5, "c": "ok", "d": None})
    assert shortened == 1 and row["b"] == 1.5 and row["c"] == "ok" and row["d"] is None
    assert len(row["a"]) <= MAX_VALUE_CHARS


def test_documents_are_bounded_at_every_level() -> None:
    document = {"items": list(range(500)), "text": "y" * 5_000, "nested": {str(i): "z" for i in range(500)}}
    bounded = bound_document(document)
    assert len(bounded["items"]) == 100 and len(bounded["text"]) == 1_024 and len(bounded["nested"]) == 100
