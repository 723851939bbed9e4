"""The drift baseline: a JSON profile of the training data, stored as ``baseline.json`` beside model.onnx.

Built at training time from the training features and the holdout predictions; read by every drift
evaluation. Format 1 (``{"format": 1, ...}``):

- ``numeric[col]``: ``edges`` (interior quantile bin edges, ``bins`` quantiles deduplicated; the outer
  bins are open so unseen extremes land in them), ``counts`` and ``frequencies`` per bin (shares of
  all rows), ``missing`` / ``missing_rate`` (null and non-finite values), summary statistics, and
  ``sample``: the sorted non-missing values as little-endian float32, base64-encoded, for the
  Kolmogorov-Smirnov test. Up to ``sample_size`` (100,000) values are kept: the whole column for
  100k training rows (KS on the baseline is then KS on the training data), otherwise the order
  statistics at evenly spaced ranks, which keeps the training ECDF within 1/100,000 everywhere.
  Size: 4 bytes per value, 4/3 for base64 -- about 530 KB per numeric feature at the cap; decoding
  it is a memcpy, unlike parsing a JSON list of floats. float32 is the precision the model is fed
  (``mlops.signature``); current values are rounded to float32 before the test so equal inputs stay
  equal.
- ``categorical[col]``: ``counts`` and ``frequencies`` of the ``max_categories`` (1,000) most
  frequent categories (missing is the category ``""``), ``other`` for the rest, ``distinct``.
  Categories unseen in training are recognized exactly when no category was cut (``other == 0``).
- ``prediction``: the holdout predictions profiled the same way, categorical (class labels) for
  classifiers and numeric for regressors; ``null`` when there were none.

Pure numpy (the drift function's package has no scipy or pandas).
"""

from __future__ import annotations

import base64
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mlops.bounds import MAX_VALUE_CHARS, bound_value
from mlops.errors import MlopsError

FORMAT = 1
DEFAULT_BINS = 10
SAMPLE_SIZE = 100_000
MAX_CATEGORIES = 1_000
MISSING = ""

FloatArray = npt.NDArray[np.float64]


class BaselineError(MlopsError):
    """A baseline document that cannot be read."""


# ---- value keys shared by baselines, captured traffic and ground truth -------------------------


def category_key(value: object) -> str:
    """A categorical feature value as the string the model sees; missing is ``""``.

    Bounded (``mlops.bounds.bound_value``): a column of keys takes rows x 256 characters at most,
    whatever the longest value, and the baseline and the captured traffic bound alike."""
    if value is None:
        return MISSING
    if isinstance(value, float | np.floating) and math.isnan(value):
        return MISSING
    return bound_value(str(value))


def class_key(value: object) -> str:
    """A class label in one canonical spelling, so 1, 1.0, "1" and np.int64(1) compare equal."""
    if value is None:
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return MISSING
        return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)
    text = bound_value(str(value).strip())
    if text.lower() in ("true", "false"):
        return text.lower()
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number):
        return class_key(number)
    return text


@dataclass(frozen=True)
class KeyedColumn:
    """A column of keys as codes into its distinct keys, numbered in order of first appearance.

    What the capture reader builds: 4 bytes a row instead of a fixed-width string, and counting is
    one ``bincount``. ``np.asarray`` gives the plain column of keys.
    """

    codes: npt.NDArray[np.int32]
    keys: list[str]

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def __getitem__(self, row: int) -> str:
        return self.keys[int(self.codes[row])]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> npt.NDArray[Any]:
        keys = np.array(self.keys, dtype=str) if self.keys else np.array([], dtype=str)
        column = keys[self.codes]
        return column if dtype is None else column.astype(dtype)

    @classmethod
    def of_distinct(
        cls, codes: npt.NDArray[np.integer[Any]], distinct: Sequence[object], key: Callable[[Any], str]
    ) -> KeyedColumn:
        """A column given as codes into its distinct values (first-seen order), each keyed once.

        Values that key alike (two long texts bounded to the same key, the class 1 and 1.0) share a key.
        """
        index: dict[str, int] = {}
        remap = np.array([index.setdefault(key(value), len(index)) for value in distinct], dtype=np.int32)
        return cls(remap[codes] if len(remap) else np.asarray(codes, dtype=np.int32), list(index))

    def counts(self) -> Counter[str]:
        """Rows per key, keys in order of first appearance (as ``Counter`` of the plain column)."""
        tally = np.bincount(self.codes, minlength=len(self.keys)).tolist()
        return Counter({key: n for key, n in zip(self.keys, tally, strict=True) if n})


def keys(values: npt.ArrayLike, key: Any = category_key) -> npt.NDArray[np.str_]:
    """Apply a key function to an array, once per distinct value where the values sort."""
    array = np.asarray(values)
    if array.dtype.kind == "U" and key is category_key and array.dtype.itemsize <= 4 * MAX_VALUE_CHARS:
        return array
    if array.size == 0:
        return np.array([], dtype=str)
    try:
        distinct, inverse = np.unique(array, return_inverse=True)
    except TypeError:  # mixed types or None: no order, key every value
        return np.array([key(v) for v in array.tolist()], dtype=str)
    mapped = np.array([key(v) for v in distinct.tolist()], dtype=str)
    return mapped[inverse.reshape(-1)]


def as_float(values: npt.ArrayLike) -> FloatArray:
    """A numeric column as float64 with NaN for missing (None, NaN, non-finite, unparsable).

    A float64 column without infinities is returned as is, not copied: treat it as read-only."""
    array = np.asarray(values)
    if array.dtype == np.float64:
        # Already float64 (the capture reader's columns): copied only if an infinity needs replacing.
        infinite = np.isinf(array)
        if not infinite.any():
            return array
        out = array.copy()
        out[infinite] = np.nan
        return out
    if array.dtype.kind in "biuf":
        out = array.astype(np.float64)
    else:
        out = np.array([_to_float(v) for v in array.tolist()], dtype=np.float64)
    out[~np.isfinite(out)] = np.nan
    return out


def _to_float(value: object) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


# ---- building ---------------------------------------------------------------------------------


def build_baseline(
    numeric: Mapping[str, npt.ArrayLike],
    categorical: Mapping[str, npt.ArrayLike | KeyedColumn],
    predictions: npt.ArrayLike | KeyedColumn | None,
    task: str,
    classes: Sequence[Any] | None,
    bins: int = DEFAULT_BINS,
    *,
    sample_size: int = SAMPLE_SIZE,
    max_categories: int = MAX_CATEGORIES,
) -> dict[str, Any]:
    """Profile training features (and holdout predictions) into a JSON-safe baseline document.

    A categorical column or the predictions may come keyed already (``KeyedColumn``: categories keyed
    with ``category_key``, predictions with ``class_key``), which spares keying every row.
    """
    if bins < 2:
        raise ValueError("A baseline needs at least 2 bins.")
    if task not in ("classification", "regression"):
        raise ValueError(f"Unknown task {task!r}: expected classification or regression.")
    lengths = {_rows(v) for v in [*numeric.values(), *categorical.values()]}
    if len(lengths) > 1:
        raise ValueError("Every feature column of a baseline needs the same number of rows.")
    prediction: dict[str, Any] | None = None
    if predictions is not None and _rows(predictions) > 0:
        if task == "classification":
            keyed = predictions if isinstance(predictions, KeyedColumn) else keys(predictions, class_key)
            prediction = {"kind": "categorical", **_categorical_profile(keyed, max_categories)}
        else:
            prediction = {"kind": "numeric", **_numeric_profile(as_float(predictions), bins, sample_size)}
    return {
        "format": FORMAT,
        "task": task,
        "rows": lengths.pop() if lengths else 0,
        "bins": bins,
        "classes": [class_key(c) for c in classes] if classes is not None else None,
        "numeric": {
            name: _numeric_profile(as_float(values), bins, sample_size) for name, values in numeric.items()
        },
        "categorical": {
            name: _categorical_profile(
                values if isinstance(values, KeyedColumn) else keys(values), max_categories
            )
            for name, values in categorical.items()
        },
        "prediction": prediction,
    }


def _numeric_profile(values: FloatArray, bins: int, sample_size: int) -> dict[str, Any]:
    rows = int(values.shape[0])
    present = np.sort(values[~np.isnan(values)])
    missing = rows - int(present.shape[0])
    summary: dict[str, float | None]
    if present.size:
        edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
        counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=edges.size + 1)
        summary = {
            "min": float(present[0]),
            "max": float(present[-1]),
            "mean": float(present.mean()),
            "std": float(present.std()),
        }
    else:
        edges = np.array([], dtype=np.float64)
        counts = np.zeros(1, dtype=np.int64)
        summary = {"min": None, "max": None, "mean": None, "std": None}
    if present.size > sample_size:
        present = present[np.round(np.linspace(0, present.size - 1, sample_size)).astype(np.int64)]
    sample = present.astype("<f4")
    return {
        "rows": rows,
        "missing": missing,
        "missing_rate": missing / rows if rows else 0.0,
        "edges": [float(e) for e in edges],
        "counts": [int(c) for c in counts],
        "frequencies": [int(c) / rows if rows else 0.0 for c in counts],
        **summary,
        "sample": {
            "encoding": "base64",
            "dtype": "<f4",
            "size": int(sample.size),
            "data": base64.b64encode(np.sort(sample).tobytes()).decode("ascii"),
        },
    }


def count_categories(values: npt.NDArray[np.str_] | KeyedColumn) -> Counter[str]:
    if isinstance(values, KeyedColumn):
        return values.counts()
    return Counter(values.tolist())


def _rows(values: npt.ArrayLike | KeyedColumn) -> int:
    return len(values) if isinstance(values, KeyedColumn) else len(np.asarray(values))


def _categorical_profile(values: npt.NDArray[np.str_] | KeyedColumn, max_categories: int) -> dict[str, Any]:
    rows = len(values)
    counted = count_categories(values)
    top = sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:max_categories]
    kept = sum(count for _, count in top)
    missing = counted.get(MISSING, 0)
    return {
        "rows": rows,
        "missing": missing,
        "missing_rate": missing / rows if rows else 0.0,
        "counts": dict(top),
        "frequencies": {category: count / rows for category, count in top},
        "other": rows - kept,
        "distinct": len(counted),
    }


# ---- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumericProfile:
    rows: int
    missing: int
    edges: FloatArray
    counts: npt.NDArray[np.int64]
    sample: npt.NDArray[np.float32]
    summary: dict[str, float | None]

    @property
    def missing_rate(self) -> float:
        return self.missing / self.rows if self.rows else 0.0

    @property
    def shares_with_missing(self) -> FloatArray:
        """Per-bin shares of all rows, with the missing share as one more bin (what PSI compares)."""
        counts = np.append(self.counts, self.missing).astype(np.float64)
        return counts / max(self.rows, 1)


@dataclass(frozen=True)
class CategoricalProfile:
    rows: int
    counts: dict[str, int]
    other: int
    distinct: int

    @property
    def missing_rate(self) -> float:
        return self.counts.get(MISSING, 0) / self.rows if self.rows else 0.0

    @property
    def truncated(self) -> bool:
        """Whether some training categories were folded into ``other`` (so "new" is unknowable)."""
        return self.other > 0


@dataclass(frozen=True)
class Baseline:
    task: Literal["classification", "regression"]
    rows: int
    numeric: dict[str, NumericProfile]
    categorical: dict[str, CategoricalProfile]
    prediction: NumericProfile | CategoricalProfile | None
    classes: list[str] | None

    @property
    def feature_names(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def load_baseline(document: Mapping[str, Any]) -> Baseline:
    """Read a baseline document (the parsed ``baseline.json``)."""
    if document.get("format") != FORMAT:
        raise BaselineError(
            f"The drift baseline has format {document.get('format')!r}; this version reads format {FORMAT}."
        )
    try:
        prediction_doc = document.get("prediction")
        prediction: NumericProfile | CategoricalProfile | None = None
        if prediction_doc is not None:
            prediction = (
                _read_numeric(prediction_doc)
                if prediction_doc.get("kind") == "numeric"
                else _read_categorical(prediction_doc)
            )
        task = document["task"]
        if task not in ("classification", "regression"):
            raise BaselineError(f"The drift baseline has an unknown task {task!r}.")
        return Baseline(
            task=task,
            rows=int(document["rows"]),
            numeric={name: _read_numeric(doc) for name, doc in document["numeric"].items()},
            categorical={name: _read_categorical(doc) for name, doc in document["categorical"].items()},
            prediction=prediction,
            classes=document.get("classes"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise BaselineError(f"The drift baseline is malformed: {error!s}.") from error


def _read_numeric(doc: Mapping[str, Any]) -> NumericProfile:
    sample_doc = doc["sample"]
    if sample_doc.get("encoding") != "base64" or sample_doc.get("dtype") != "<f4":
        raise BaselineError("The drift baseline's KS sample is not base64 float32.")
    sample = np.frombuffer(base64.b64decode(sample_doc["data"]), dtype="<f4")
    if sample.size != int(sample_doc["size"]):
        raise BaselineError("The drift baseline's KS sample has the wrong length.")
    counts = np.asarray(doc["counts"], dtype=np.int64)
    edges = np.asarray(doc["edges"], dtype=np.float64)
    if counts.size != edges.size + 1:
        raise BaselineError("The drift baseline's bin counts do not match its edges.")
    return NumericProfile(
        rows=int(doc["rows"]),
        missing=int(doc["missing"]),
        edges=edges,
        counts=counts,
        sample=sample,
        summary={k: doc.get(k) for k in ("min", "max", "mean", "std")},
    )


def _read_categorical(doc: Mapping[str, Any]) -> CategoricalProfile:
    return CategoricalProfile(
        rows=int(doc["rows"]),
        counts={str(k): int(v) for k, v in doc["counts"].items()},
        other=int(doc["other"]),
        distinct=int(doc["distinct"]),
    )
