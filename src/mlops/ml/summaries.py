"""Mergeable per-batch summaries of a column: what a dataset profile is built from without the column.

Each summary is made from one batch of values and merged with the next, so a file of any length is
profiled in memory bounded by the sketches, not by the rows:

- ``Moments``: count, mean, sum of squared deviations (Chan et al.'s parallel merge), min and max.
- ``QuantileSketch``: the values themselves up to ``EXACT_VALUES`` (quantiles then equal numpy's),
  then a KLL-style compactor: full levels are sorted and halved, every kept item doubling its weight.
- ``DistinctSketch``: the ``DISTINCT_EXACT`` smallest 64-bit hashes of the values (KMV); exact while
  a column has at most that many distinct values, an estimate within about 1/sqrt(k) past it.
- ``TopCategories``: counts per value in first-seen order; past ``CATEGORY_CAPACITY`` values only the
  largest counts are kept, so a category's count may be an underestimate (an identifier column's
  "top" is then a few of its values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

EXACT_VALUES = 32_768
DISTINCT_EXACT = 16_384
CATEGORY_CAPACITY = 1_000

FloatArray = npt.NDArray[np.float64]
HashArray = npt.NDArray[np.uint64]


@dataclass
class Moments:
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf

    @classmethod
    def of(cls, finite: FloatArray) -> Moments:
        if len(finite) == 0:
            return cls()
        mean = float(finite.mean())
        return cls(
            count=len(finite),
            mean=mean,
            m2=float(((finite - mean) ** 2).sum()),
            minimum=float(finite.min()),
            maximum=float(finite.max()),
        )

    def merge(self, other: Moments) -> Moments:
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        count = self.count + other.count
        delta = other.mean - self.mean
        return Moments(
            count=count,
            mean=self.mean + delta * other.count / count,
            m2=self.m2 + other.m2 + delta * delta * self.count * other.count / count,
            minimum=min(self.minimum, other.minimum),
            maximum=max(self.maximum, other.maximum),
        )

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0


@dataclass
class QuantileSketch:
    capacity: int = EXACT_VALUES
    levels: list[FloatArray] = field(default_factory=list)
    seen: int = 0
    _parity: int = 0
    _rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def add(self, values: FloatArray) -> None:
        if len(values) == 0:
            return
        if not self.levels:
            self.levels.append(np.empty(0, dtype=np.float64))
        self.seen += len(values)
        height = 0
        if len(values) > self.capacity:
            # A batch bigger than a level enters as a uniform sample of at most a quarter of a level,
            # each item standing for 2**height values: no sort of the whole batch.
            height = max(1, (len(values) - 1).bit_length() - (self.capacity - 1).bit_length() + 2)
            picked = self._rng.integers(0, len(values), size=len(values) >> height)
            values = values[picked]
        while len(self.levels) <= height:
            self.levels.append(np.empty(0, dtype=np.float64))
        self.levels[height] = np.concatenate([self.levels[height], values.astype(np.float64, copy=False)])
        self._compact()

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        levels = [level.copy() for level in self.levels]
        merged = QuantileSketch(self.capacity, levels, self.seen + other.seen, self._parity, self._rng)
        for height, level in enumerate(other.levels):
            while len(merged.levels) <= height:
                merged.levels.append(np.empty(0, dtype=np.float64))
            merged.levels[height] = np.concatenate([merged.levels[height], level])
        merged._compact()
        return merged

    @property
    def exact(self) -> bool:
        return len(self.levels) <= 1

    @property
    def count(self) -> int:
        """Values added (the levels' weights sum to about this)."""
        return self.seen

    def _compact(self) -> None:
        height = 0
        while height < len(self.levels):
            level = self.levels[height]
            if len(level) > self.capacity:
                ordered = np.sort(level)
                # An odd item stays behind; the rest halve, alternating which half survives so the
                # rank error of successive compactions cancels rather than adds up.
                keep = len(ordered) - len(ordered) % 2
                survivors = ordered[self._parity : keep : 2]
                self._parity ^= 1
                self.levels[height] = ordered[keep:]
                if height + 1 == len(self.levels):
                    self.levels.append(np.empty(0, dtype=np.float64))
                self.levels[height + 1] = np.concatenate([self.levels[height + 1], survivors])
            height += 1

    def quantiles(self, qs: tuple[float, ...]) -> list[float]:
        if not self.levels or not any(len(level) for level in self.levels):
            return []
        if self.exact:
            return [float(v) for v in np.quantile(self.levels[0], qs)]
        values = np.concatenate(self.levels)
        weights = np.concatenate(
            [np.full(len(level), 1 << height, dtype=np.float64) for height, level in enumerate(self.levels)]
        )
        order = np.argsort(values, kind="stable")
        values, ranks = values[order], np.cumsum(weights[order])
        total = ranks[-1]
        return [float(values[min(int(np.searchsorted(ranks, q * total)), len(values) - 1)]) for q in qs]


@dataclass
class DistinctSketch:
    capacity: int = DISTINCT_EXACT
    hashes: HashArray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))

    @property
    def full(self) -> bool:
        return len(self.hashes) >= self.capacity

    def add_hashes(self, hashes: HashArray) -> None:
        if len(self.hashes) >= self.capacity:
            hashes = hashes[hashes < self.hashes[-1]]
            if len(hashes) == 0:
                return
        if len(hashes) * 8 < len(self.hashes):  # a few new ones: insert them, the kept ones stay sorted
            fresh = np.unique(hashes)
            at = np.searchsorted(self.hashes, fresh)
            known = self.hashes[np.minimum(at, len(self.hashes) - 1)] == fresh
            self.hashes = np.insert(self.hashes, at[~known], fresh[~known])[: self.capacity]
            return
        merged = np.concatenate([self.hashes, hashes])
        if len(merged) > 2 * self.capacity:  # only the smallest can stay: select them, then sort those
            merged = np.partition(merged, self.capacity)[: self.capacity + 1]
        merged.sort()
        if len(merged):
            merged = merged[np.concatenate(([True], merged[1:] != merged[:-1]))]
        self.hashes = merged[: self.capacity]

    def add(self, values: npt.NDArray[Any]) -> None:
        """Distinct values of one batch (numbers, or strings as an object array)."""
        self.add_hashes(pd.util.hash_array(values, categorize=False).astype(np.uint64, copy=False))

    def merge(self, other: DistinctSketch) -> DistinctSketch:
        merged = DistinctSketch(self.capacity, self.hashes)
        merged.add_hashes(other.hashes)
        return merged

    @property
    def estimate(self) -> int:
        if len(self.hashes) < self.capacity:
            return len(self.hashes)
        fraction = (float(self.hashes[-1]) + 1.0) / 2.0**64
        return round((self.capacity - 1) / fraction)


@dataclass
class TopCategories:
    capacity: int = CATEGORY_CAPACITY
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, values: list[str], counts: list[int]) -> None:
        for value, count in zip(values, counts, strict=True):
            self.counts[value] = self.counts.get(value, 0) + count
        if len(self.counts) > 2 * self.capacity:
            self._prune()

    def merge(self, other: TopCategories) -> TopCategories:
        merged = TopCategories(self.capacity, dict(self.counts))
        merged.add(list(other.counts), list(other.counts.values()))
        return merged

    def _prune(self) -> None:
        kept = sorted(self.counts.items(), key=lambda item: -item[1])[: self.capacity]
        order = {value: position for position, value in enumerate(self.counts)}
        self.counts = dict(sorted(kept, key=lambda item: order[item[0]]))

    def top(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` largest counts, ties in first-seen order (as ``pandas.Series.value_counts``)."""
        return sorted(self.counts.items(), key=lambda item: -item[1])[:n]


def json_float(value: float) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def numeric_stats(
    figures: tuple[float, float, float, float] | None,
    qs: tuple[float, ...],
    quantiles: list[float],
    infinite: int,
) -> dict[str, Any]:
    """A numeric column's profile entry from its (min, max, mean, std) over finite values, if any."""
    if figures is None:
        return {"min": None, "max": None, "mean": None, "std": None, "quantiles": {}, "infinite": infinite}
    minimum, maximum, mean, std = figures
    return {
        "min": json_float(minimum),
        "max": json_float(maximum),
        "mean": json_float(mean),
        "std": json_float(std),
        "quantiles": {f"p{round(q * 100):02d}": json_float(v) for q, v in zip(qs, quantiles, strict=True)},
        "infinite": infinite,
    }


@dataclass
class ColumnSummary:
    """Everything a column's profile needs, from its batches: numbers or text, never both."""

    missing: int = 0
    distinct: DistinctSketch = field(default_factory=DistinctSketch)
    moments: Moments = field(default_factory=Moments)
    quantiles: QuantileSketch = field(default_factory=QuantileSketch)
    infinite: int = 0
    categories: TopCategories = field(default_factory=TopCategories)
    text_min: str | None = None
    text_max: str | None = None

    def add_numbers(self, present: FloatArray) -> None:
        """One batch's present values, as floats."""
        finite = present[np.isfinite(present)]
        self.infinite += len(present) - len(finite)
        self.moments = self.moments.merge(Moments.of(finite))
        self.quantiles.add(finite)
        # Once the sketch is full, hashing every value and keeping the few below its threshold is
        # cheaper than finding the batch's distinct values first.
        self.distinct.add(present if self.distinct.full else pd.unique(present))

    def add_text(self, values: list[str], counts: list[int], low: str | None, high: str | None) -> None:
        """One batch's distinct present values with their counts (first-seen order), and its min/max."""
        self.categories.add(values, counts)
        self.distinct.add(np.asarray(values, dtype=object))
        if low is not None:
            self.text_min = low if self.text_min is None else min(self.text_min, low)
        if high is not None:
            self.text_max = high if self.text_max is None else max(self.text_max, high)

    def merge(self, other: ColumnSummary) -> ColumnSummary:
        low = [v for v in (self.text_min, other.text_min) if v is not None]
        high = [v for v in (self.text_max, other.text_max) if v is not None]
        return ColumnSummary(
            missing=self.missing + other.missing,
            distinct=self.distinct.merge(other.distinct),
            moments=self.moments.merge(other.moments),
            quantiles=self.quantiles.merge(other.quantiles),
            infinite=self.infinite + other.infinite,
            categories=self.categories.merge(other.categories),
            text_min=min(low) if low else None,
            text_max=max(high) if high else None,
        )

    def profile(self, logical: str, rows: int, top: int, quantiles: tuple[float, ...]) -> dict[str, Any]:
        """The column's entry in a dataset profile, in the shape ``mlops.ml.dataset.profile`` gives."""
        stats: dict[str, Any] = {
            "type": logical,
            "missing": self.missing,
            "missing_ratio": self.missing / rows if rows else 0.0,
            "unique": self.distinct.estimate,
        }
        if logical == "boolean":
            present = sum(self.categories.counts.values())
            stats["true_ratio"] = self.categories.counts.get("True", 0) / present if present else None
            stats.update(self._top(top, present))
        elif logical in ("integer", "float"):
            stats.update(self._numbers(quantiles))
        else:
            stats.update(self._top(top, rows - self.missing))
            if logical == "datetime":
                stats["min"], stats["max"] = self.text_min, self.text_max
        return stats

    def _numbers(self, qs: tuple[float, ...]) -> dict[str, Any]:
        moments = self.moments
        figures = (moments.minimum, moments.maximum, moments.mean, moments.std) if moments.count else None
        return numeric_stats(figures, qs, self.quantiles.quantiles(qs), self.infinite)

    def _top(self, n: int, present: int) -> dict[str, Any]:
        top = self.categories.top(n)
        return {
            "top": [{"value": value, "count": count} for value, count in top],
            "other_count": present - sum(count for _, count in top),
        }
