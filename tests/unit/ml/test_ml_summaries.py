"""The mergeable column summaries: merging batch summaries gives the whole column's figures."""

from __future__ import annotations

import numpy as np
import pytest

from mlops.ml.summaries import ColumnSummary, DistinctSketch, Moments, QuantileSketch, TopCategories

QS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _batches(values: np.ndarray, size: int) -> list[np.ndarray]:
    return [values[start : start + size] for start in range(0, len(values), size)]


def test_merged_moments_equal_the_whole_columns() -> None:
    values = np.random.default_rng(0).lognormal(size=10_001)
    merged = Moments()
    for batch in _batches(values, 777):
        merged = merged.merge(Moments.of(batch))
    assert merged.count == len(values)
    assert merged.mean == pytest.approx(values.mean(), rel=1e-12)
    assert merged.std == pytest.approx(values.std(ddof=1), rel=1e-12)
    assert (merged.minimum, merged.maximum) == (values.min(), values.max())
    assert Moments.of(values[:1]).std == 0.0 and Moments().merge(Moments()).count == 0


def test_quantiles_are_numpys_while_exact_and_within_rank_error_past_it() -> None:
    values = np.random.default_rng(1).normal(size=200_000)
    small = QuantileSketch()
    for batch in _batches(values[:5000], 999):
        small.add(batch)
    assert small.exact and small.quantiles(QS) == pytest.approx(list(np.quantile(values[:5000], QS)))

    big = QuantileSketch(capacity=2048)
    halves = [QuantileSketch(capacity=2048), QuantileSketch(capacity=2048)]
    for i, batch in enumerate(_batches(values, 10_000)):
        big.add(batch)
        halves[i % 2].add(batch)
    merged = halves[0].merge(halves[1])
    ordered = np.sort(values)
    for sketch in (big, merged):
        assert not sketch.exact and sketch.count == len(values)
        for q, estimate in zip(QS, sketch.quantiles(QS), strict=True):
            assert abs(np.searchsorted(ordered, estimate) / len(values) - q) < 0.01


def test_distinct_counts_are_exact_below_capacity_and_close_past_it() -> None:
    sketch = DistinctSketch()
    for batch in _batches(np.arange(3000, dtype=np.float64) % 1234, 500):
        sketch.add(np.unique(batch))
    assert sketch.estimate == 1234

    words = DistinctSketch()
    words.add(np.asarray(["a", "b", "a"], dtype=object))
    assert words.estimate == 2

    many = [DistinctSketch(capacity=4096), DistinctSketch(capacity=4096)]
    for i, batch in enumerate(_batches(np.arange(300_000, dtype=np.float64), 7_000)):
        many[i % 2].add(batch)
        many[i % 2].add(batch[:100])  # repeats change nothing
    assert many[0].merge(many[1]).estimate == pytest.approx(300_000, rel=0.05)


def test_top_categories_count_exactly_below_capacity_ties_in_first_seen_order() -> None:
    top = TopCategories()
    top.add(["b", "a"], [2, 1])
    other = TopCategories()
    other.add(["c", "a"], [2, 1])
    merged = top.merge(other)
    assert merged.top(3) == [("b", 2), ("a", 2), ("c", 2)]
    assert merged.top(1) == [("b", 2)]


def test_top_categories_keep_the_heavy_ones_past_capacity() -> None:
    top = TopCategories(capacity=10)
    for start in range(0, 1000, 50):
        top.add(["heavy", *(f"id{i}" for i in range(start, start + 50))], [100, *([1] * 50)])
    assert top.top(1) == [("heavy", 2000)] and len(top.counts) <= 20


def test_column_summaries_merge_to_the_single_summary() -> None:
    values = np.random.default_rng(2).normal(size=4000).round(2)
    whole = ColumnSummary(missing=5)
    whole.add_numbers(values)
    parts = ColumnSummary(missing=2)
    parts.add_numbers(values[:1500])
    rest = ColumnSummary(missing=3)
    rest.add_numbers(values[1500:])
    merged = parts.merge(rest).profile("float", 4005, 20, QS)
    single = whole.profile("float", 4005, 20, QS)
    assert merged.keys() == single.keys()
    assert merged["unique"] == single["unique"] and merged["missing"] == 5
    assert merged["quantiles"] == single["quantiles"] and merged["mean"] == pytest.approx(single["mean"])

    text = ColumnSummary()
    text.add_text(["x", "y"], [3, 1], "x", "y")
    more = ColumnSummary(missing=1)
    more.add_text(["y", "w"], [3, 1], "w", "y")
    profile = text.merge(more).profile("datetime", 9, 1, QS)
    assert profile["top"] == [{"value": "y", "count": 4}] and profile["other_count"] == 4
    assert (profile["min"], profile["max"], profile["unique"]) == ("w", "y", 3)
