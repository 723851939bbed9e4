"""Request rows to feature columns, checked against the model's signature.

The rules (docs/inference.md lists them for users):

- every feature of the signature must be present; a field the model does not know is refused, except
  the dataset's excluded columns (identifiers), which are accepted and ignored;
- numeric features take JSON numbers (booleans count as 1 and 0); ``null`` (or the ``NaN`` literal)
  means missing and is accepted only where the feature is ``nullable`` (the model imputes it);
  ``Infinity`` and numbers beyond float32 are refused; strings are refused, even numeric-looking ones;
- categorical features take strings; numbers are accepted and written the way pandas reads them from
  the training CSV (``3`` as ``"3"``, ``2.5`` as ``"2.5"``, ``true`` as ``"True"``, and an integral
  ``3.0`` as ``"3"`` when the model knows ``"3"`` but not ``"3.0"``); ``null`` means missing (fed as
  ``""``) where nullable; a category the model never saw is accepted (its one-hot encoding ignores
  it) and reported back in ``unseen_categories``.

Numeric values are gathered into one float64 matrix so each check is one vectorised pass, whatever
the number of features; a request that is not clean numbers falls back to a per-value pass that
finds and names the first bad value.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mlops.serving.errors import InvalidInput, PayloadTooLarge
from mlops.signature_types import (
    BULK_MAX_FEATURES,
    BULK_MIN_BODY_BYTES,
    MISSING_CATEGORY,
    FeatureSpecLike,
    SignatureLike,
)

if TYPE_CHECKING:
    from mlops.serving.records_decoder import RecordsDecoder

FloatMatrix = npt.NDArray[np.float64]
# Describes where a value sits in the request, for messages: (feature name, row index) -> text.
Locator = Callable[[str, int], str]

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_MAX_LISTED = 10  # names or categories quoted in one message or report
BODY_FORMATS = ("records", "instances", "dataframe_split")


def row_locator(feature: str, row: int) -> str:
    return f"feature '{feature}' in row {row}"


def describe(value: Any) -> str:
    """A short description of a JSON value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def quoted(names: Sequence[str] | set[str] | frozenset[str], limit: int = _MAX_LISTED) -> str:
    ordered = sorted(names)
    text = ", ".join(f"'{n}'" for n in ordered[:limit])
    return text + (f" and {len(ordered) - limit} more" if len(ordered) > limit else "")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


class FeatureLayout:
    """What one signature expects, precomputed once per loaded model."""

    def __init__(self, signature: SignatureLike) -> None:
        self.signature = signature
        self.features: list[FeatureSpecLike] = list(signature.features)
        self.names: list[str] = [f.name for f in self.features]
        self.expected: frozenset[str] = frozenset(self.names)
        self.ignored: frozenset[str] = frozenset(signature.excluded_columns) - self.expected
        self.numeric: list[FeatureSpecLike] = [f for f in self.features if f.kind == "numeric"]
        self.categorical: list[FeatureSpecLike] = [f for f in self.features if f.kind == "categorical"]
        self.numeric_names: list[str] = [f.name for f in self.numeric]
        self.numeric_positions: list[int] = [self.names.index(f.name) for f in self.numeric]
        self.numeric_not_nullable = np.array([not f.nullable for f in self.numeric], dtype=bool)
        self.any_numeric_not_nullable = bool(self.numeric_not_nullable.any())
        self.known_categories: dict[str, frozenset[str] | None] = {
            f.name: frozenset(f.categories) if f.categories is not None else None for f in self.categorical
        }
        self.all_numeric = not self.categorical
        # For the records fast path: each feature's value of a record, taken by a C-level call.
        self.column_getters: list[tuple[str, Callable[[Any], Any]]] = [(n, itemgetter(n)) for n in self.names]
        self.categorical_names: list[str] = [f.name for f in self.categorical]
        self.categorical_checks: list[tuple[FeatureSpecLike, frozenset[str] | None]] = [
            (f, self.known_categories[f.name]) for f in self.categorical
        ]
        # For captured rows: a row's values listed numeric first, then categorical, put back in
        # signature order (None when that is already the order).
        listed = [*self.numeric_names, *self.categorical_names]
        self.capture_order: Callable[[Sequence[Any]], tuple[Any, ...]] | None = (
            None if listed == self.names else tuple_getter([listed.index(name) for name in self.names])
        )
        self._records_decoder: RecordsDecoder | None = None
        self.decodes_records = len(self.names) <= BULK_MAX_FEATURES

    def records_decoder(self) -> RecordsDecoder:
        """The decoder of large ``records`` bodies, built (and msgspec imported) on first use. Two
        threads racing here build two equal decoders, and one is kept."""
        if self._records_decoder is None:
            from mlops.serving.records_decoder import RecordsDecoder

            self._records_decoder = RecordsDecoder(self)
        return self._records_decoder


@dataclass(frozen=True)
class FeatureBatch:
    """Validated feature values: numeric ones as one float64 matrix (NaN = missing), categorical ones
    as lists of strings (None = missing), both in signature order."""

    rows: int
    numeric: FloatMatrix
    categorical: dict[str, list[str | None]]
    unseen: dict[str, list[str]] = field(default_factory=dict)

    def feature_rows(self, layout: FeatureLayout) -> list[dict[str, Any]]:
        """One ``{feature: value}`` per row (JSON-ready: None for missing), in signature order."""
        numeric_rows: list[list[Any]] = self.numeric.tolist() if layout.numeric else [[]] * self.rows
        # A row's sum is NaN exactly when one of its values is (the values are finite and within
        # float32, so the sum cannot overflow): cheaper than numpy's isnan on a request's few rows.
        if any(total != total for total in map(sum, numeric_rows)):
            numeric_rows = [[None if v != v else v for v in values] for values in numeric_rows]
        columns = [self.categorical[name] for name in layout.categorical_names]
        names, order = layout.names, layout.capture_order
        if not columns:
            if order is None:
                return [dict(zip(names, values)) for values in numeric_rows]  # noqa: B905 - same length
            return [dict(zip(names, order(values))) for values in numeric_rows]  # noqa: B905
        # Each row's values as numeric then categorical, put in signature order by one C-level call.
        rows = map(list.__add__, numeric_rows, map(list, zip(*columns)))  # noqa: B905 - same length
        if order is None:
            return [dict(zip(names, values)) for values in rows]  # noqa: B905
        return [dict(zip(names, order(values))) for values in rows]  # noqa: B905


# ---- the predict body ---------------------------------------------------------------------------


def parse_predict_text(
    layout: FeatureLayout, raw: str | bytes, parsed: Callable[[], Any], max_rows: int
) -> FeatureBatch:
    """The predict body's text to a batch. A large body of clean records, for a model of at most
    ``BULK_MAX_FEATURES`` features, is decoded straight into columns
    (``mlops.serving.records_decoder``); any other body is ``parsed()`` (the JSON value) and read by
    ``parse_predict_body``, which also names the fault in a body the decoder refused."""
    if len(raw) >= BULK_MIN_BODY_BYTES and layout.decodes_records:
        batch = layout.records_decoder().batch(raw, max_rows)
        if batch is not None:
            return batch
    return parse_predict_body(layout, parsed(), max_rows)


def parse_predict_body(layout: FeatureLayout, body: Any, max_rows: int) -> FeatureBatch:
    """``{"records": ...}``, ``{"instances": ...}`` or ``{"dataframe_split": ...}`` to a batch."""
    if not isinstance(body, dict):
        raise InvalidInput(
            f"The body must be a JSON object with one of 'records', 'instances' or 'dataframe_split', "
            f"got {describe(body)}."
        )
    present = [k for k in BODY_FORMATS if k in body]
    unknown = set(body) - set(BODY_FORMATS)
    if unknown:
        raise InvalidInput(
            f"Unknown field(s) {quoted(unknown)} in the body; send one of 'records', 'instances' "
            "or 'dataframe_split'."
        )
    if len(present) != 1:
        if not present:
            raise InvalidInput("The body must have one of 'records', 'instances' or 'dataframe_split'.")
        raise InvalidInput(f"Send only one of {quoted(present)}.")
    kind = present[0]
    value = body[kind]
    if kind == "dataframe_split":
        return _from_dataframe_split(layout, value, max_rows)
    if not isinstance(value, list):
        raise InvalidInput(f"'{kind}' must be a list of rows, got {describe(value)}.")
    check_rows(len(value), max_rows)
    if kind == "records" or isinstance(value[0], dict):
        return from_records(layout, value, kind)
    return from_rows(layout, value, list(range(len(layout.names))), kind)


def check_rows(rows: int, max_rows: int) -> None:
    if rows == 0:
        raise InvalidInput("The batch is empty: send at least one row.")
    if rows > max_rows:
        raise PayloadTooLarge(f"The batch has {rows} rows; the limit is {max_rows} rows per request.")


def tuple_getter(keys: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """``itemgetter`` that always returns a tuple, also for one key."""
    if len(keys) == 1:
        key = keys[0]
        return lambda row: (row[key],)
    return itemgetter(*keys)


def from_records(layout: FeatureLayout, records: list[Any], kind: str = "records") -> FeatureBatch:
    # Fast path, all in C: every row an object with exactly the model's features, read one feature at
    # a time, one C-level pass per feature builds its column (a tuple per row took longer on
    # 10,000-row bodies, and gave the garbage collector an object per row to walk). A row that is not
    # an object fails the look-up (TypeError), one that lacks a feature too (KeyError); having every
    # feature, the rows hold no other field exactly when their sizes add up to rows x features.
    try:
        columns = {name: list(map(getter, records)) for name, getter in layout.column_getters}
    except (KeyError, TypeError):
        columns = None  # the checks below name the fault in a 400
    if columns is not None and sum(map(len, records)) == len(records) * len(layout.names):
        return from_columns(layout, columns, len(records), row_locator)
    _check_records(layout, records, kind)
    table = [tuple(record[name] for name in layout.names) for record in records]
    return _from_table(layout, table)


def _check_records(layout: FeatureLayout, records: list[Any], kind: str) -> None:
    expected = layout.expected
    for i, record in enumerate(records):
        if type(record) is not dict:
            raise InvalidInput(
                f"Row {i} of '{kind}' must be an object of feature values, got {describe(record)}."
            )
        keys = record.keys()
        if keys != expected:
            missing = expected - keys
            if missing:
                raise InvalidInput(f"Row {i} is missing feature(s) {quoted(missing)}.")
            unknown = keys - expected - layout.ignored
            if unknown:
                raise InvalidInput(
                    f"Row {i} has unknown feature(s) {quoted(unknown)}; the model's features are "
                    f"{quoted(layout.names)}."
                )


def from_rows(layout: FeatureLayout, rows: list[Any], positions: list[int], kind: str) -> FeatureBatch:
    """Positional rows; ``positions[k]`` is where the signature's k-th feature sits in each row."""
    width = len(positions) if kind != "dataframe_split" else None
    if set(map(type, rows)) != {list} or (width is not None and set(map(len, rows)) != {width}):
        for i, row in enumerate(rows):
            if type(row) is not list:
                raise InvalidInput(f"Row {i} of '{kind}' must be a list of values, got {describe(row)}.")
            if width is not None and len(row) != width:
                order = ", ".join(layout.names[:_MAX_LISTED]) + (", ..." if width > _MAX_LISTED else "")
                raise InvalidInput(
                    f"Row {i} of '{kind}' has {len(row)} values; the model takes {width}, in this order: "
                    f"{order}."
                )
    if positions == list(range(len(positions))) and width is not None:
        return _from_table(layout, rows)
    return _from_table(layout, list(map(tuple_getter(positions), rows)))


def _from_table(layout: FeatureLayout, table: Sequence[Sequence[Any]]) -> FeatureBatch:
    """Rows holding the features in signature order, turned into columns in one C-level pass."""
    columns = list(zip(*table, strict=True))
    return from_columns(layout, dict(zip(layout.names, columns, strict=True)), len(table), row_locator)


def _from_dataframe_split(layout: FeatureLayout, value: Any, max_rows: int) -> FeatureBatch:
    if not isinstance(value, dict):
        raise InvalidInput(
            f"'dataframe_split' must be an object with 'columns' and 'data', got {describe(value)}."
        )
    unknown_keys = set(value) - {"columns", "data", "index"}
    if unknown_keys:
        raise InvalidInput(
            f"Unknown field(s) {quoted(unknown_keys)} in 'dataframe_split'; it takes 'columns', 'data' "
            "and optionally 'index'."
        )
    columns, data = value.get("columns"), value.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InvalidInput("'dataframe_split.columns' must be a list of column names.")
    if len(set(columns)) != len(columns):
        duplicated = {c for c in columns if columns.count(c) > 1}
        raise InvalidInput(f"'dataframe_split.columns' names {quoted(duplicated)} more than once.")
    if not isinstance(data, list):
        raise InvalidInput(f"'dataframe_split.data' must be a list of rows, got {describe(data)}.")
    missing = layout.expected - set(columns)
    if missing:
        raise InvalidInput(f"'dataframe_split.columns' is missing feature(s) {quoted(missing)}.")
    unknown = set(columns) - layout.expected - layout.ignored
    if unknown:
        raise InvalidInput(
            f"'dataframe_split.columns' has unknown feature(s) {quoted(unknown)}; the model's features "
            f"are {quoted(layout.names)}."
        )
    check_rows(len(data), max_rows)
    for i, row in enumerate(data):
        if type(row) is not list or len(row) != len(columns):
            raise InvalidInput(
                f"Row {i} of 'dataframe_split.data' must be a list of {len(columns)} values (one per "
                f"column), got {describe(row) if type(row) is not list else f'{len(row)} values'}."
            )
    index = {name: k for k, name in enumerate(columns)}
    return from_rows(layout, data, [index[name] for name in layout.names], "dataframe_split")


# ---- columns (the Open Inference Protocol's per-feature tensors) --------------------------------


def from_columns(
    layout: FeatureLayout, columns: Mapping[str, Sequence[Any]], rows: int, where: Locator
) -> FeatureBatch:
    """One list of ``rows`` values per feature, already checked for length."""
    names = layout.numeric_names
    numeric = _numeric_matrix(
        layout,
        lambda: [columns[n] for n in names],
        lambda name: columns[name],
        where,
        transposed=True,
    )
    categorical = {f.name: columns[f.name] for f in layout.categorical}
    return _finish(layout, rows, numeric, categorical, where)


def from_matrix(layout: FeatureLayout, values: list[Any], rows: int, where: Locator) -> FeatureBatch:
    """A flat row-major ``[rows, features]`` list of numbers (all-numeric models only)."""
    width = len(layout.names)
    numeric = _numeric_matrix(
        layout,
        lambda: values,
        lambda name: values[layout.names.index(name) :: width],
        where,
        shape=(rows, width),
    )
    return _finish(layout, rows, numeric, {}, where)


# ---- conversion ---------------------------------------------------------------------------------


def _numeric_matrix(
    layout: FeatureLayout,
    build: Callable[[], Any],
    column: Callable[[str], Sequence[Any]],
    where: Locator,
    transposed: bool = False,
    shape: tuple[int, int] | None = None,
) -> FloatMatrix:
    """The numeric features as an ``[N, F]`` float64 matrix: one vectorised conversion when every value
    is a plain number, else the per-value pass that names the first bad one."""
    if not layout.numeric:
        return np.empty((0, 0), dtype=np.float64)
    if transposed:
        numbers = _number_columns(build())
        if numbers is not None:
            return numbers
    try:
        candidate = np.array(build())
    except (ValueError, TypeError, OverflowError):
        candidate = None
    if candidate is not None and candidate.dtype.kind in "biuf":
        if shape is not None and candidate.ndim == 1 and candidate.size == shape[0] * shape[1]:
            candidate = candidate.reshape(shape)
        if candidate.ndim == 2:
            matrix = candidate.T if transposed else candidate
            if matrix.shape[1] == len(layout.numeric):
                return np.ascontiguousarray(matrix, dtype=np.float64)
    return np.column_stack(
        [_numeric_values(spec, column(spec.name), where) for spec in layout.numeric]
    ).astype(np.float64, copy=False)


def _number_columns(columns: Sequence[Sequence[Any]]) -> FloatMatrix | None:
    """Columns of plain numbers as an ``[N, F]`` float64 matrix, one C-level pass per column:
    ``array.array`` reads floats, integers and booleans and refuses anything else (a string, even a
    numeric-looking one, None, a list), which then takes the per-value pass. Several times faster
    than ``np.array``, which first works out the type and shape of every value."""
    try:
        return np.stack([np.frombuffer(array("d", values)) for values in columns], axis=1)
    except (TypeError, OverflowError):
        return None


def _numeric_values(spec: FeatureSpecLike, values: Sequence[Any], where: Locator) -> FloatMatrix:
    out = np.empty(len(values), dtype=np.float64)
    for i, value in enumerate(values):
        if value is None:
            out[i] = math.nan
        elif type(value) is float or type(value) is int or type(value) is bool:
            try:
                out[i] = float(value)
            except OverflowError:
                raise InvalidInput(
                    _sentence(f"{where(spec.name, i)} is too large for a float32 feature.")
                ) from None
        else:
            raise InvalidInput(
                _sentence(f"{where(spec.name, i)} must be a number (or null), got {describe(value)}.")
            )
    return out


def _check_numeric(layout: FeatureLayout, matrix: FloatMatrix, where: Locator) -> None:
    # One reduction answers the common case: NaN and Infinity make the bound fail and take the
    # detailed pass below. (The ufunc's reduce directly: ndarray.max adds a Python wrapper.)
    if float(np.maximum.reduce(np.abs(matrix), axis=None)) <= _FLOAT32_MAX:
        return
    finite = np.isfinite(matrix)
    missing = np.isnan(matrix)
    infinite = ~finite & ~missing
    if infinite.any():
        i, j = np.argwhere(infinite)[0]
        name = layout.numeric_names[j]
        raise InvalidInput(
            _sentence(
                f"{where(name, int(i))} is {_infinity(float(matrix[i, j]))}: send a finite number, or null if missing."
            )
        )
    if layout.any_numeric_not_nullable:
        refused = missing & layout.numeric_not_nullable[np.newaxis, :]
        if refused.any():
            i, j = np.argwhere(refused)[0]
            name = layout.numeric_names[j]
            raise InvalidInput(
                _sentence(f"{where(name, int(i))} is missing, and the model takes no missing values for it.")
            )
    over = np.abs(np.where(missing, 0.0, matrix)) > _FLOAT32_MAX
    if over.any():
        i, j = np.argwhere(over)[0]
        raise InvalidInput(
            _sentence(f"{where(layout.numeric_names[j], int(i))} is too large for a float32 feature.")
        )


def _category(
    spec: FeatureSpecLike, value: Any, known: frozenset[str] | None, where: Locator, row: int
) -> str | None:
    if type(value) is str:
        return value
    if value is None or (type(value) is float and math.isnan(value)):
        if not spec.nullable:
            raise InvalidInput(
                _sentence(
                    f"{where(spec.name, row)} is missing, and the model takes no missing values for it."
                )
            )
        return None
    if type(value) is bool:
        return str(value)
    if type(value) is int:
        return str(value)
    if type(value) is float:
        if math.isinf(value):
            raise InvalidInput(_sentence(f"{where(spec.name, row)} is {_infinity(value)}: send a category."))
        text = repr(value)
        if value.is_integer() and known is not None and text not in known and str(int(value)) in known:
            return str(int(value))
        return text
    raise InvalidInput(
        _sentence(f"{where(spec.name, row)} must be a string (a category), got {describe(value)}.")
    )


def _infinity(value: float) -> str:
    return "Infinity" if value > 0 else "-Infinity"


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape such as \\ud800
        return False
    return True


def from_typed(
    layout: FeatureLayout,
    rows: int,
    numeric: FloatMatrix,
    categorical: dict[str, list[str]],
) -> FeatureBatch:
    """A batch from values already typed: the numeric features as an ``[N, F]`` float64 matrix, the
    categorical ones as columns of valid strings (no missing value). The numbers are still checked."""
    return _finish(layout, rows, numeric, categorical, row_locator, strings_checked=True)


def _all_valid_strings(columns: list[Sequence[Any]]) -> bool:
    """Every value a string, all of it valid text: checked once for every categorical feature."""
    if set(map(type, chain.from_iterable(columns))) != {str}:
        return False
    text = "".join(chain.from_iterable(columns))
    return text.isascii() or _encodable(text)


def _finish(
    layout: FeatureLayout,
    rows: int,
    numeric: FloatMatrix,
    raw_categorical: Mapping[str, Sequence[Any]],
    where: Locator,
    strings_checked: bool = False,
) -> FeatureBatch:
    if layout.numeric:
        _check_numeric(layout, numeric, where)
    categorical: dict[str, list[str | None]] = {}
    unseen: dict[str, list[str]] = {}
    columns = [raw_categorical[name] for name in layout.categorical_names]
    if columns and (strings_checked or _all_valid_strings(columns)):
        for (spec, known), values in zip(layout.categorical_checks, columns, strict=True):
            strings: list[str | None] = list(values)
            categorical[spec.name] = strings
            if known is not None and not known.issuperset(strings):
                new = set(strings) - known - {MISSING_CATEGORY}
                if new:
                    unseen[spec.name] = sorted(str(v) for v in new)[:_MAX_LISTED]
        return FeatureBatch(rows=rows, numeric=numeric, categorical=categorical, unseen=unseen)
    for spec, known in layout.categorical_checks:
        values = raw_categorical[spec.name]
        if set(map(type, values)) == {str}:
            column: list[str | None] = list(values)
            text = "".join(values)
        else:
            column = [_category(spec, v, known, where, i) for i, v in enumerate(values)]
            text = "".join(v for v in column if v is not None)
        if not text.isascii() and not _encodable(text):
            i = next(i for i, v in enumerate(column) if v is not None and not _encodable(v))
            raise InvalidInput(_sentence(f"{where(spec.name, i)} is not valid Unicode text."))
        categorical[spec.name] = column
        # issuperset answers the common case (every category known) without building sets.
        if known is not None and not known.issuperset(column):
            new = set(column) - known - {None, MISSING_CATEGORY}
            if new:
                unseen[spec.name] = sorted(str(v) for v in new)[:_MAX_LISTED]
    return FeatureBatch(rows=rows, numeric=numeric, categorical=categorical, unseen=unseen)
