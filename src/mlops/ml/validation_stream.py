"""Validation over a dataset version's Parquet record batches: ``validate``'s report in bounded memory.

``validate_parquet`` reads the canonical Parquet batch by batch (``BATCH_ROWS`` rows) and folds each
batch into mergeable state, then hands the same report builder (``mlops.ml.validation.build_report``)
what ``validate`` would find on the whole frame:

- pass 1 (text columns only, skipped when there are none): ``numeric_parsing``'s findings, judged on
  each batch's distinct values and merged (counts add, "all"/"any" combine, the first example wins);
- pass 2: every batch parsed as the findings say, then per column the present count, distinct values
  (``mlops.ml.summaries.DistinctSketch``: exact up to ``DISTINCT_EXACT`` distinct values, an estimate
  past it), min, max, whether it is sorted, infinities; per class of a classification target its
  count; a regression target's moments;
- duplicates and conflicting labels from a 64-bit hash of each row's features and a 31-bit one of its
  target (0 when it has none), kept in ``PARTITIONS`` partitions by feature hash and sorted one
  partition at a time, so memory is 12 bytes a row plus one partition's sort. (Two labels of the same
  features colliding in 31 bits is the only way a count can be off: about one chance in 2**31 per
  pair.)

Batches are converted to pandas with the dtypes the whole frame would have (an integer column with gaps
anywhere is float64, a boolean one the nullable boolean), so values and labels read the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlops.config import DatasetConfig
from mlops.ml.dataset import DATETIME_SAMPLE, is_datetime_sample
from mlops.ml.parsing import (
    DECIMAL_COMMA,
    INTEGER_TEXT,
    MOSTLY_NUMBERS,
    THOUSANDS_LIKE,
    NumericFinding,
)
from mlops.ml.summaries import DistinctSketch, Moments
from mlops.ml.validation import (
    AcceptedSchema,
    ColumnFacts,
    DatasetFacts,
    RegressionTargetFacts,
    ValidationReport,
    build_report,
    unparsed_columns,
)

BATCH_ROWS = 65_536
READ_BUFFER_BYTES = 1 << 20
PARTITIONS = 16
_PARTITION_SHIFT = np.uint64(64 - 4)
_NO_LABEL = np.uint32(0)

HashArray = npt.NDArray[np.uint64]
LabelArray = npt.NDArray[np.uint32]


@dataclass
class TextParsing:
    """``parse_numbers``' view of one text column, merged over batches."""

    present: int = 0
    any_number: bool = False
    any_comma: bool = False
    comma_or_integer: bool = True
    comma_thousands_like: bool = True
    comma_example: str | None = None
    invalid: int = 0
    bad_example: str | None = None

    def add(self, series: pd.Series) -> None:
        counts = series.value_counts(sort=False, dropna=True)
        if counts.empty:
            return
        self.present += int(counts.sum())
        texts = pd.Series(counts.index.astype(str), dtype=object).str.strip()
        numbers = pd.to_numeric(texts, errors="coerce")
        comma = texts.str.match(DECIMAL_COMMA).to_numpy(dtype=bool)
        self.any_number |= bool(numbers.notna().any())
        if comma.any():
            self.any_comma = True
            with_comma = texts[comma]
            self.comma_example = self.comma_example or str(with_comma.iloc[0])
            self.comma_thousands_like &= bool(with_comma.str.match(THOUSANDS_LIKE).all())
        self.comma_or_integer &= bool((comma | texts.str.match(INTEGER_TEXT).to_numpy(dtype=bool)).all())
        bad = numbers.isna().to_numpy()
        if bad.any():
            self.invalid += int(counts.to_numpy()[bad].sum())
            self.bad_example = self.bad_example or str(texts[bad].iloc[0])

    def finding(self, name: str, max_invalid_ratio: float) -> NumericFinding | None:
        """What ``parse_numbers`` reports for the column (None: it is text, nothing to say)."""
        if self.present == 0 or (not self.any_number and not self.any_comma):
            return None
        if self.any_comma and self.comma_or_integer:
            if self.comma_thousands_like:
                reason = (
                    f"Column {name!r} is read as text: its values like {self.comma_example!r} have three "
                    "digits after the comma, so the comma could be a decimal point or a thousands separator."
                )
                return NumericFinding(name, "kept_text", self.present, 0, self.comma_example, reason)
            return NumericFinding(name, "decimal_comma", self.present, 0, self.comma_example)
        if (self.present - self.invalid) / self.present < MOSTLY_NUMBERS:
            return None
        if self.invalid / self.present > max_invalid_ratio:
            reason = (
                f"Column {name!r} is read as text: {self.invalid} of its {self.present} values "
                f"({self.invalid / self.present:.1%}) are not numbers (e.g. {self.bad_example!r}), above "
                f"validation.numeric_parsing.max_invalid_ratio {max_invalid_ratio:.1%}."
            )
            return NumericFinding(name, "kept_text", self.present, self.invalid, self.bad_example, reason)
        return NumericFinding(name, "parsed", self.present, self.invalid, self.bad_example)


def parse_batch_column(series: pd.Series, action: str) -> pd.Series:
    """One batch of a text column as ``parse_numbers`` parses the whole column."""
    texts = series.astype(object).where(series.notna(), None)
    stripped = texts.dropna().astype(str).str.strip()
    if action == "decimal_comma":
        stripped = stripped.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(stripped, errors="coerce").astype("float64")
    return numbers.reindex(series.index).astype("float64")


@dataclass
class ColumnState:
    """One column's facts over the batches seen so far."""

    present: int = 0
    distinct: DistinctSketch = field(default_factory=DistinctSketch)
    minimum: float = math.inf
    maximum: float = -math.inf
    increasing: bool = True
    decreasing: bool = True
    last: float | None = None
    infinite: int = 0
    whole: bool = True  # every present value finite and whole (a float column with gaps is then integer)
    datetime_sample: list[Any] = field(default_factory=list)

    def add(self, series: pd.Series, numeric: bool) -> None:
        present = series.dropna()
        if present.empty:
            return
        self.present += len(present)
        values = present.to_numpy()
        self.distinct.add(values if self.distinct.full else pd.unique(values))
        if numeric:
            self._add_numbers(present.to_numpy(dtype=np.float64))
        elif len(self.datetime_sample) < DATETIME_SAMPLE:
            seen = set(self.datetime_sample)
            for value in pd.unique(values):
                if value not in seen:
                    self.datetime_sample.append(value)
                    seen.add(value)
                    if len(self.datetime_sample) == DATETIME_SAMPLE:
                        break

    def _add_numbers(self, numbers: npt.NDArray[np.float64]) -> None:
        self.minimum = min(self.minimum, float(numbers.min()))
        self.maximum = max(self.maximum, float(numbers.max()))
        steps = np.diff(numbers if self.last is None else np.concatenate(([self.last], numbers)))
        self.increasing &= bool((steps >= 0).all())
        self.decreasing &= bool((steps <= 0).all())
        self.last = float(numbers[-1])
        finite = np.isfinite(numbers)
        self.infinite += int((~finite).sum())
        self.whole &= bool(finite.all()) and bool((numbers == np.round(numbers)).all())

    def facts(self, logical: str) -> ColumnFacts:
        if logical not in ("integer", "float") or self.present == 0:
            return ColumnFacts(present=self.present, unique=self.distinct.estimate)
        return ColumnFacts(
            present=self.present,
            unique=self.distinct.estimate,
            minimum=self.minimum,
            maximum=self.maximum,
            monotonic=self.increasing or self.decreasing,
            infinite=self.infinite,
        )


@dataclass
class RowHashes:
    """Per row: a hash of its features and one of its target, partitioned by the feature hash."""

    keys: list[list[HashArray]] = field(default_factory=lambda: [[] for _ in range(PARTITIONS)])
    labels: list[list[LabelArray]] = field(default_factory=lambda: [[] for _ in range(PARTITIONS)])

    def add(self, keys: HashArray, labels: LabelArray) -> None:
        part = (keys >> _PARTITION_SHIFT).astype(np.intp)
        for index in range(PARTITIONS):
            chosen = part == index
            if chosen.any():
                self.keys[index].append(keys[chosen])
                self.labels[index].append(labels[chosen])

    def counts(self) -> tuple[int, int]:
        """(rows repeating an earlier row, labelled rows whose features occur with another label)."""
        duplicates = conflicting = 0
        for index in range(PARTITIONS):
            if not self.keys[index]:
                continue
            keys = np.concatenate(self.keys[index])
            labels = np.concatenate(self.labels[index])
            self.keys[index], self.labels[index] = [], []
            duplicates += len(keys) - count_pairs(keys, labels)
            labelled = labels != _NO_LABEL
            conflicting += conflicting_rows(keys[labelled], labels[labelled])
        return duplicates, conflicting


def label_hashes(values: pd.Series) -> LabelArray:
    """31 bits of a hash of each value's text, its low bit set; 0 where the value is missing."""
    hashes = pd.util.hash_array(values.astype(str).to_numpy(dtype=object)).astype(np.uint64)
    labels = (hashes >> np.uint64(32)).astype(np.uint32) | np.uint32(1)
    labels[values.isna().to_numpy(dtype=bool)] = _NO_LABEL
    return labels


def count_pairs(keys: HashArray, labels: npt.NDArray[Any]) -> int:
    """How many distinct (key, label) pairs."""
    if len(keys) == 0:
        return 0
    order = np.lexsort((labels, keys))
    keys, labels = keys[order], labels[order]
    return 1 + int(((keys[1:] != keys[:-1]) | (labels[1:] != labels[:-1])).sum())


def conflicting_rows(keys: HashArray, labels: npt.NDArray[Any]) -> int:
    """Rows whose key occurs with more than one distinct label."""
    if len(keys) == 0:
        return 0
    order = np.lexsort((labels, keys))
    keys, labels = keys[order], labels[order]
    key_start = np.concatenate(([True], keys[1:] != keys[:-1]))
    pair_start = key_start | np.concatenate(([True], labels[1:] != labels[:-1]))
    group = np.cumsum(key_start) - 1
    labels_per_group = np.bincount(group, weights=pair_start)
    return int((labels_per_group[group] > 1).sum())


def _hash_frame(frame: pd.DataFrame) -> HashArray:
    if frame.shape[1] == 0:
        return np.zeros(len(frame), dtype=np.uint64)
    return np.asarray(pd.util.hash_pandas_object(frame, index=False), dtype=np.uint64)


@dataclass
class _Layout:
    """How the whole frame would type each column, from the Parquet schema and the null counts."""

    names: list[str]
    arrow: dict[str, pa.DataType]
    gaps: dict[str, bool]

    def to_pandas(self, batch: pa.RecordBatch) -> pd.DataFrame:
        frame: pd.DataFrame = batch.to_pandas()
        for name in self.names:
            kind = self.arrow[name]
            if pa.types.is_integer(kind) and self.gaps[name]:
                frame[name] = frame[name].astype("float64")
            elif pa.types.is_boolean(kind):
                frame[name] = frame[name].astype("boolean") if self.gaps[name] else frame[name].astype(bool)
        return frame


def _logical(layout: _Layout, name: str, state: ColumnState, parsed: bool, rows: int) -> str:
    kind = layout.arrow[name]
    if pa.types.is_boolean(kind):
        return "boolean"
    if parsed or pa.types.is_integer(kind) or pa.types.is_floating(kind):
        if pa.types.is_integer(kind) and not layout.gaps[name]:
            return "integer"
        return "integer" if state.present < rows and state.present and state.whole else "float"
    if state.present == 0:
        return "string"
    return "datetime" if is_datetime_sample(state.datetime_sample) else "string"


def _recorded_null_counts(parquet: pq.ParquetFile, names: list[str]) -> dict[str, int] | None:
    """Each column's nulls from the row groups' statistics, or None when a column chunk has none."""
    counts = dict.fromkeys(names, 0)
    metadata = parquet.metadata
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for position, name in enumerate(names):
            statistics = row_group.column(position).statistics
            if statistics is None or not statistics.has_null_count:
                return None
            counts[name] += statistics.null_count
    return counts


def dataset_facts(parquet: pq.ParquetFile, config: DatasetConfig) -> DatasetFacts:
    """``mlops.ml.validation.frame_facts`` of the file, reading it a batch at a time."""
    target = config.target
    names = [str(name) for name in parquet.schema_arrow.names]
    arrow = {name: parquet.schema_arrow.field(name).type for name in names}
    nulls = dict.fromkeys(names, 0)
    rule = config.validation.numeric_parsing
    skip = unparsed_columns(config)
    text = [n for n in names if (pa.types.is_string(arrow[n]) or pa.types.is_large_string(arrow[n]))]
    candidates = [] if rule.severity == "off" else [n for n in text if n not in skip]
    parsing = {name: TextParsing() for name in candidates}
    # Pass 1: null counts (for the whole frame's dtypes) and the text columns' parsing findings. The
    # counts are in the file's statistics when its writer kept them (ingest's does): then only the
    # text columns that may hold numbers are read.
    recorded = _recorded_null_counts(parquet, names)
    first_pass = names if recorded is None else candidates
    if first_pass:
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=first_pass):
            for name in first_pass:
                column = batch.column(name)
                nulls[name] += column.null_count
                if name in parsing and column.null_count < len(column):
                    parsing[name].add(column.to_pandas())
    if recorded is not None:
        nulls = recorded
    rows = parquet.metadata.num_rows
    layout = _Layout(names, arrow, {name: nulls[name] > 0 for name in names})
    findings = [f for n in candidates if (f := parsing[n].finding(n, rule.max_invalid_ratio)) is not None]
    parse = {f.column: f.action for f in findings if f.action != "kept_text"}
    del parsing

    states = {name: ColumnState() for name in names}
    numeric = {
        name: name in parse or pa.types.is_integer(arrow[name]) or pa.types.is_floating(arrow[name])
        for name in names
    }
    hashes = RowHashes()
    class_counts: dict[Any, int] = {}
    target_moments = Moments()
    target_infinite = 0
    target_values: list[float] = []  # the first two distinct finite values: whether the target varies
    labelled_rows = 0
    has_target = target in names
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        frame = layout.to_pandas(batch)
        for name, action in parse.items():
            frame[name] = parse_batch_column(frame[name], action)
        for name in names:
            states[name].add(frame[name], numeric[name])
        if has_target:
            values = frame[target]
            labelled = values.notna().to_numpy(dtype=bool)
            labelled_rows += int(labelled.sum())
            features = frame.drop(columns=[target])
            labels = label_hashes(values)
            present = values[labelled]
            if config.task == "classification":
                for label, count in present.value_counts(sort=False).items():
                    class_counts[label] = class_counts.get(label, 0) + int(count)
            elif numeric[target] and len(present):
                numbers = present.to_numpy(dtype=np.float64)
                finite = numbers[np.isfinite(numbers)]
                target_infinite += len(numbers) - len(finite)
                target_moments = target_moments.merge(Moments.of(finite))
                if len(target_values) < 2:
                    target_values = list(dict.fromkeys([*target_values, *np.unique(finite)[:2].tolist()]))[:2]
        else:
            features = frame
            labels = np.full(len(frame), _NO_LABEL, dtype=np.uint32)
        hashes.add(_hash_frame(features), labels)

    schema = {name: _logical(layout, name, states[name], name in parse, rows) for name in names}
    duplicates, conflicting = hashes.counts()
    regression: RegressionTargetFacts | None = None
    counts: pd.Series | None = None
    if has_target and config.task == "classification":
        counts = pd.Series(
            list(class_counts.values()), index=pd.Index(list(class_counts), dtype=object), name="count"
        )
        counts = counts.sort_values(ascending=False, kind="stable")
        counts.index.name = target
    elif has_target and schema[target] in ("integer", "float"):
        regression = RegressionTargetFacts(
            count=labelled_rows,
            infinite=target_infinite,
            varies=len(target_values) >= 2,
            first_finite=target_values[0] if target_values else math.nan,
            std=math.sqrt(target_moments.m2 / target_moments.count) if target_moments.count else math.nan,
        )
    return DatasetFacts(
        columns=names,
        findings=findings,
        column_types=schema,
        rows=rows,
        column_facts={name: states[name].facts(schema[name]) for name in names},
        labelled=labelled_rows,
        class_counts=counts,
        regression=regression,
        duplicates=duplicates,
        conflicting=conflicting,
    )


def validate_parquet(
    source: BinaryIO | str,
    config: DatasetConfig,
    previous: AcceptedSchema | dict[str, str] | None,
) -> ValidationReport:
    """``mlops.ml.validation.validate``'s report on a Parquet file (a seekable file or a path)."""
    # Without pre-buffering, through a small read buffer: the default reads ahead across row groups,
    # so its memory grows with the file.
    with pq.ParquetFile(source, pre_buffer=False, buffer_size=READ_BUFFER_BYTES) as parquet:
        return build_report(dataset_facts(parquet, config), config, previous)
