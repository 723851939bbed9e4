"""The one place that turns raw rows into what a model sees, for scikit-learn and ONNX alike.

Both the fitted pipeline and the ONNX graph consume ``prepare_features(df, signature)``: a frame with
one column per feature, named as in the dataset, in signature order (the pipeline selects columns by
position, which is also the order of the ONNX inputs):

- numeric features (integer, float, boolean) become float64 values that are exactly representable
  in float32, with NaN for missing and for non-finite values. The ONNX inputs are float32 (see
  ``mlops.signature``), so rounding here makes scikit-learn train on, and predict from, exactly the
  numbers the ONNX model receives: a tree threshold can then never fall between a value and its
  float32 rounding, which is what otherwise flips an occasional row between scikit-learn and ONNX.
- categorical features (string, datetime) become Python ``str`` with missing as ``""``
  (``MISSING_CATEGORY``): a category the model learns when training rows had gaps, and otherwise
  one it never saw, encoded like any unknown category.

Only pandas and numpy here, so serving and promotion can use it without scikit-learn.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from mlops.errors import ValidationFailed
from mlops.signature import MISSING_CATEGORY, FeatureKind, Signature

NUMERIC_LOGICAL_TYPES: frozenset[str] = frozenset({"integer", "float", "boolean"})

# Output names of every model (mlops.signature); an input may not take one of them.
_RESERVED_NAMES = frozenset({"label", "probabilities", "variable"})
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def kind_of(logical_type: str) -> FeatureKind:
    """How a column of this logical type is fed to the model."""
    return "numeric" if logical_type in NUMERIC_LOGICAL_TYPES else "categorical"


def input_names(columns: Iterable[str]) -> dict[str, str]:
    """A unique ONNX-safe input name (``[A-Za-z_][A-Za-z0-9_]*``) for each column, stable for a list.

    Unsafe characters become ``_``; a leading digit, an empty result or an output's name get an
    ``f_`` prefix; collisions get ``_2``, ``_3``... in column order.
    """
    names: dict[str, str] = {}
    taken: set[str] = set()
    for column in columns:
        base = _UNSAFE.sub("_", column.strip())
        if not base or base[0].isdigit() or base.lower() in _RESERVED_NAMES:
            base = f"f_{base}"
        name, suffix = base, 2
        while name.lower() in taken:
            name = f"{base}_{suffix}"
            suffix += 1
        taken.add(name.lower())
        names[column] = name
    return names


def numeric_values(series: pd.Series, column: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    """float64 values rounded through float32, NaN for missing and non-finite values."""
    converted = pd.to_numeric(series, errors="coerce")
    bad = converted.isna().to_numpy() & series.notna().to_numpy()
    if bad.any():
        value = series.to_numpy(dtype=object)[bad][0]
        raise ValidationFailed(f"Column {column!r} is numeric, but the value {value!r} is not a number.")
    values = converted.to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(over="ignore", invalid="ignore"):
        values = values.astype(np.float32).astype(np.float64)
    values[~np.isfinite(values)] = np.nan
    return values


def categorical_values(series: pd.Series) -> np.ndarray[Any, np.dtype[np.object_]]:
    """Python strings, ``MISSING_CATEGORY`` for missing values."""
    if isinstance(series.dtype, pd.StringDtype):
        # Already text: one Python string per distinct value, shared by its rows (8 bytes a row, not a
        # new string object each), so a big table's categorical columns cost a fraction of the memory.
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        distinct = np.empty(len(uniques) + 1, dtype=object)
        distinct[:-1] = uniques.to_numpy(dtype=object)
        distinct[-1] = MISSING_CATEGORY
        return distinct.take(codes)  # code -1 (missing) takes the last entry
    present = series.notna().to_numpy()
    values = np.full(len(series), MISSING_CATEGORY, dtype=object)
    values[present] = [str(value) for value in series.to_numpy(dtype=object)[present]]
    return values


def class_labels(values: pd.Series) -> np.ndarray[Any, np.dtype[Any]]:
    """Classification labels as ONNX classifiers can output them, for training and for scoring alike.

    Whole numbers (also read as float) become int64; booleans the strings ``"True"``/``"False"``; any
    other value its ``str``. Idempotent, so raw target values and model labels normalize the same way.
    Missing values must be dropped first.
    """
    if bool(values.isna().any()):
        raise ValidationFailed(f"Column {values.name!r} has missing labels; drop those rows first.")
    objects = values.to_numpy(dtype=object)
    if len(objects) and all(isinstance(value, bool | np.bool_) for value in objects):
        return np.array([str(bool(value)) for value in objects], dtype=object)
    if len(objects) and all(
        isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)
        for value in objects
    ):
        numbers = np.asarray(objects, dtype=np.float64)
        if bool(np.isfinite(numbers).all()) and bool((numbers == np.round(numbers)).all()):
            return numbers.astype(np.int64)
        return np.array([repr(float(value)) for value in numbers], dtype=object)
    return np.array([str(value) for value in objects], dtype=object)


def prepare_features(df: pd.DataFrame, signature: Signature) -> pd.DataFrame:
    """The model's view of ``df``: one column per feature, in signature order (see module docstring)."""
    missing = [feature.name for feature in signature.features if feature.name not in df.columns]
    if missing:
        raise ValidationFailed(
            f"Column {missing[0]!r} that the model uses is missing from the data "
            f"({len(missing)} feature column(s) missing)."
        )
    columns: dict[str, Any] = {}
    for feature in signature.features:
        series = df[feature.name]
        if feature.kind == "numeric":
            columns[feature.name] = numeric_values(series, feature.name)
        else:
            columns[feature.name] = pd.Series(categorical_values(series), dtype=object)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(df)))


def feature_kinds(signature: Signature) -> list[FeatureKind]:
    """The kind of each feature, in signature order: what the pipeline's column transformer is built from."""
    return [feature.kind for feature in signature.features]
