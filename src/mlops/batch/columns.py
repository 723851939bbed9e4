"""Arrow record batches -> validated features, row errors, and the scored output columns.

Pure pyarrow and numpy (the scoring function's import graph: no pandas, no scikit-learn). A row that
fails validation is not scored: it goes to the errors file with one reason, the others are scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlops.serving.features import FeatureBatch, FeatureLayout
from mlops.serving.model_store import Prediction

PREDICTION = "prediction"
MODEL_VERSION = "model_version"
REASON = "reason"
PROBABILITY_PREFIX = "probability_"

# A decimal or scientific number or an infinity (lower-cased; missing values are matched apart): anything
# else in a numeric column is an error.
_NUMBER = r"^[-+]?((\d+\.?\d*|\.\d+)(e[-+]?\d+)?|inf|infinity)$"
_MISSING_WORDS = ("", "nan", "NaN", "NA", "null", "None")


@dataclass
class ValidatedBatch:
    """Which rows of one record batch are scorable (``ok``), why the others are not, and the features."""

    ok: npt.NDArray[np.bool_]
    reasons: list[str | None]
    features: FeatureBatch

    @property
    def failed(self) -> int:
        return int((~self.ok).sum())


def _fail(reasons: list[str | None], ok: npt.NDArray[np.bool_], rows: npt.NDArray[Any], reason: str) -> None:
    for row in rows.tolist():
        if ok[row]:
            ok[row] = False
            reasons[row] = reason


def _numeric(
    column: pa.ChunkedArray | pa.Array, name: str, ok: npt.NDArray[np.bool_], reasons: list[str | None]
) -> npt.NDArray[np.float64]:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if pa.types.is_floating(kind) or pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        column = pc.cast(column, pa.string())
    trimmed = pc.utf8_trim_whitespace(column)
    # Booleans as CSV and JSON write them: true/false (any case) are 1 and 0.
    lowered = pc.utf8_lower(trimmed)
    trimmed = pc.if_else(pc.equal(lowered, "true"), "1", pc.if_else(pc.equal(lowered, "false"), "0", trimmed))
    missing = pc.or_kleene(pc.is_null(trimmed), pc.is_in(trimmed, pa.array(_MISSING_WORDS)))
    number = pc.match_substring_regex(pc.utf8_lower(trimmed), _NUMBER)
    bad = pc.and_(pc.invert(pc.fill_null(missing, False)), pc.invert(pc.fill_null(number, False)))
    bad_rows = np.flatnonzero(np.asarray(bad.to_numpy(zero_copy_only=False), dtype=bool))
    if bad_rows.size:
        first = column[int(bad_rows[0])].as_py()
        _fail(reasons, ok, bad_rows, f"'{name}' is not a number ('{str(first)[:40]}')")
    usable = pc.if_else(pc.fill_null(number, False), trimmed, pa.scalar(None, pa.string()))
    return np.asarray(pc.cast(usable, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def validate(
    layout: FeatureLayout, batch: pa.RecordBatch, failed: list[str | None] | None = None
) -> ValidatedBatch:
    """Check one record batch; ``failed`` holds reasons the reader already found (None: row read fine)."""
    rows = batch.num_rows
    reasons: list[str | None] = list(failed) if failed is not None else [None] * rows
    ok = np.array([r is None for r in reasons], dtype=bool)
    names = set(batch.schema.names)
    numeric = np.full((rows, len(layout.numeric)), np.nan, dtype=np.float64)
    for j, spec in enumerate(layout.numeric):
        if spec.name not in names:
            _fail(reasons, ok, np.arange(rows), f"the input has no column '{spec.name}'")
            continue
        values = _numeric(batch.column(spec.name), spec.name, ok, reasons)
        infinite = np.flatnonzero(np.isinf(values))
        if infinite.size:
            _fail(reasons, ok, infinite, f"'{spec.name}' is not finite")
        if not spec.nullable:
            _fail(reasons, ok, np.flatnonzero(np.isnan(values)), f"'{spec.name}' is missing")
        numeric[:, j] = values
    categorical: dict[str, list[str | None]] = {}
    for spec in layout.categorical:
        if spec.name not in names:
            _fail(reasons, ok, np.arange(rows), f"the input has no column '{spec.name}'")
            categorical[spec.name] = [None] * rows
            continue
        column = batch.column(spec.name)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            column = pc.cast(column, pa.string())
        values = column.to_pylist()
        if not spec.nullable:
            _fail(reasons, ok, np.flatnonzero(np.asarray(pc.is_null(column))), f"'{spec.name}' is missing")
        categorical[spec.name] = values
    keep = np.flatnonzero(ok)
    features = FeatureBatch(
        rows=int(keep.size),
        numeric=numeric[keep],
        categorical={name: [values[i] for i in keep.tolist()] for name, values in categorical.items()}
        if len(keep) < rows
        else categorical,
    )
    return ValidatedBatch(ok=ok, reasons=reasons, features=features)


def probability_columns(classes: list[Any]) -> list[str]:
    return [f"{PROBABILITY_PREFIX}{label}" for label in classes]


def scored_columns(prediction: Prediction, classes: list[Any], version: int) -> dict[str, pa.Array]:
    """The columns batch scoring adds (docs/batch.md#output): prediction, a probability per class, model_version."""
    columns: dict[str, pa.Array] = {PREDICTION: pa.array(prediction.outputs)}
    if prediction.probabilities is not None:
        for j, name in enumerate(probability_columns(classes)):
            columns[name] = pa.array(np.ascontiguousarray(prediction.probabilities[:, j]))
    columns[MODEL_VERSION] = pa.array(np.full(len(prediction.outputs), version, dtype=np.int64))
    return columns


def output_batch(
    source: pa.RecordBatch, keep: list[str] | None, mask: npt.NDArray[np.bool_], scored: dict[str, pa.Array]
) -> pa.RecordBatch:
    kept = source.filter(pa.array(mask)) if not mask.all() else source
    names = [n for n in kept.schema.names if n not in scored and (keep is None or n in keep)]
    arrays = [kept.column(n) for n in names] + list(scored.values())
    return pa.RecordBatch.from_arrays(arrays, names=[*names, *scored])


def errors_batch(
    source: pa.RecordBatch, ok: npt.NDArray[np.bool_], reasons: list[str | None]
) -> pa.RecordBatch:
    failed = ~ok
    rows = source.filter(pa.array(failed))
    why = pa.array([r for r, bad in zip(reasons, failed.tolist(), strict=True) if bad], pa.string())
    names = [n for n in rows.schema.names if n != REASON]
    return pa.RecordBatch.from_arrays([*(rows.column(n) for n in names), why], names=[*names, REASON])
