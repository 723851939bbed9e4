"""Reading an uploaded CSV into a frame, its schema and profile, and the canonical Parquet copy.

``read_csv_bytes`` is the gate between what a user uploads and a dataset version: anything it cannot
turn into a sane table raises :class:`~mlops.errors.IngestRefused` with one sentence saying what is
wrong (empty, binary, compressed, a header without rows, unnamed or duplicate columns, ragged rows).

Accepted: UTF-8 (with or without a byte-order mark) or, failing that, Windows-1252 text (what Excel
writes on Windows); the delimiter is the one of ``, ; TAB |`` that splits the header into the most
columns, comma on a tie. Header names are stripped of surrounding whitespace; rows with every field
empty are dropped (spreadsheet exports end with them). Spaces around a field are ignored, and a field
of spaces is missing.

Logical types (``infer_schema``): ``integer``, ``float``, ``boolean``, ``string`` and ``datetime``
(ISO 8601 strings; trained on as strings). A float column whose present values are all whole numbers
and which has missing values is ``integer``: pandas reads an integer column with gaps as float.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlops.errors import IngestRefused
from mlops.ml.summaries import numeric_stats

LogicalType = Literal["integer", "float", "boolean", "string", "datetime"]
NUMERIC_TYPES: frozenset[str] = frozenset({"integer", "float", "boolean"})

DELIMITERS = (",", ";", "\t", "|")
TOP_CATEGORIES = 20
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
DATETIME_SAMPLE = 1000

# Control bytes other than tab, LF and CR never occur in a text CSV; they mean binary.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_HEADER_PREFIX = 1 << 16
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$")
_PARSER_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip-compressed; upload the uncompressed CSV"),
    (b"PK\x03\x04", "a ZIP archive (an Excel workbook is one); export the sheet as CSV"),
    (b"PAR1", "a Parquet file; upload a CSV"),
    (b"%PDF", "a PDF document; upload a CSV"),
    (b"BZh", "bzip2-compressed; upload the uncompressed CSV"),
    (b"\xfd7zXZ", "xz-compressed; upload the uncompressed CSV"),
)


def content_sha256(data: bytes) -> str:
    """Hex SHA-256 of the uploaded bytes: a dataset version's identity."""
    return hashlib.sha256(data).hexdigest()


def read_csv_bytes(data: bytes) -> pd.DataFrame:
    """Parse an uploaded CSV, or raise ``IngestRefused`` saying in one sentence why it is not a table."""
    text, encoding = decode_text(data)
    delimiter, header = read_header(text)
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            encoding=encoding,
            sep=delimiter,
            header=0,
            low_memory=False,
            skip_blank_lines=True,
            # "1, 2" is as common as "1,2"; a field of spaces then reads as missing, not as text.
            skipinitialspace=True,
        )
    except pd.errors.ParserError as exc:
        raise IngestRefused(_parser_message(str(exc))) from exc
    except (ValueError, pd.errors.EmptyDataError) as exc:
        raise IngestRefused(f"The file could not be read as CSV: {_first_line(str(exc))}.") from exc
    frame.columns = pd.Index(header)
    frame = _strip_text(frame).dropna(how="all").reset_index(drop=True)
    if frame.empty:
        raise IngestRefused("The file has a header but no data rows.")
    return _normalize_booleans(frame)


def refuse_binary(data: bytes) -> None:
    """Refuse bytes that are empty, a known binary format, or hold NUL or other control bytes."""
    if not data:
        raise IngestRefused("The file is empty (0 bytes).")
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise IngestRefused(f"The file is {what}.")
    if b"\x00" in data:
        raise IngestRefused("The file contains NUL bytes, so it is binary, not a CSV text file.")
    if len(data.translate(None, _CONTROL_BYTES)) != len(data):
        raise IngestRefused("The file contains control characters, so it is binary, not a CSV text file.")


def decode_text(data: bytes) -> tuple[str, str]:
    """The text and its encoding (UTF-8, else Windows-1252), or ``IngestRefused`` saying why not."""
    refuse_binary(data)
    encoding = "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        encoding = "cp1252"
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise IngestRefused(
                "The file is neither UTF-8 nor Windows-1252 text; save it as a UTF-8 CSV."
            ) from exc
    if not text.strip():
        raise IngestRefused("The file contains only whitespace: no header and no data.")
    return text, encoding


def read_header(text: str) -> tuple[str, list[str]]:
    """The delimiter and the stripped column names, or ``IngestRefused`` naming what is wrong."""
    # The header is the first record; parsing a prefix spares copying the whole file per delimiter.
    prefix = text[:_HEADER_PREFIX]
    if len(prefix) < len(text) and "\n" not in prefix and "\r" not in prefix:
        prefix = text
    best: tuple[str, list[str]] | None = None
    for delimiter in DELIMITERS:
        reader = csv.reader(io.StringIO(prefix, newline=""), delimiter=delimiter)
        try:
            fields = next(reader)
        except (StopIteration, csv.Error):
            continue
        if best is None or len(fields) > len(best[1]):
            best = (delimiter, fields)
    if best is None:
        raise IngestRefused("The file has no readable header line.")
    delimiter, fields = best
    header = [field.strip() for field in fields]
    if len(header) < 2:
        shown = header[0][:60] if header else ""
        raise IngestRefused(
            f"The file's header has a single column ({shown!r}); a dataset needs a target and at least "
            "one feature column, separated by commas."
        )
    for position, name in enumerate(header, start=1):
        if not name:
            raise IngestRefused(f"Column {position} of the header has no name; every column needs one.")
    seen: dict[str, int] = {}
    for name in header:
        seen[name] = seen.get(name, 0) + 1
    duplicates = [name for name, count in seen.items() if count > 1]
    if duplicates:
        name = duplicates[0]
        raise IngestRefused(
            f"Column name {name!r} appears {seen[name]} times in the header; column names must be unique."
        )
    return delimiter, header


def _parser_message(message: str) -> str:
    match = _PARSER_FIELDS.search(message)
    if match:
        expected, line, saw = match.groups()
        return (
            f"The file is not a well-formed CSV: line {line} has {saw} fields where the header has "
            f"{expected}."
        )
    return f"The file is not a well-formed CSV: {_first_line(message)}."


def _first_line(message: str) -> str:
    lines = message.strip().splitlines()
    return lines[0].rstrip(".") if lines else "unknown parser error"


def _strip_text(frame: pd.DataFrame) -> pd.DataFrame:
    # Trailing spaces would make "red " a category of its own; a field of spaces is missing.
    for column in frame.columns:
        series = frame[column]
        if isinstance(series.dtype, pd.StringDtype):
            stripped = series.str.strip()
            frame[column] = stripped.where(stripped != "", np.nan)
    return frame


def _normalize_booleans(frame: pd.DataFrame) -> pd.DataFrame:
    # pandas reads a true/false column with gaps as object; the nullable boolean dtype keeps its meaning
    # through Parquet and numeric conversion.
    for column in frame.columns:
        series = frame[column]
        if series.dtype == object:
            present = series.dropna()
            if len(present) and all(isinstance(value, bool | np.bool_) for value in present):
                frame[column] = series.astype("boolean")
    return frame


def infer_schema(df: pd.DataFrame) -> dict[str, str]:
    """Logical type of every column: integer, float, boolean, string or datetime."""
    return {str(column): _logical_type(df[column]) for column in df.columns}


def _logical_type(series: pd.Series) -> LogicalType:
    if pd.api.types.is_bool_dtype(series.dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(series.dtype):
        return "integer"
    if pd.api.types.is_float_dtype(series.dtype):
        present = series.dropna()
        values = present.to_numpy(dtype=np.float64)
        if (
            len(present) < len(series)
            and len(values)
            and bool(np.isfinite(values).all())
            and bool((values == np.round(values)).all())
        ):
            return "integer"
        return "float"
    present = series.dropna()
    if len(present) == 0:
        return "string"
    if all(isinstance(value, bool | np.bool_) for value in present):
        return "boolean"
    return "datetime" if is_datetime_sample(list(present.unique()[:DATETIME_SAMPLE])) else "string"


def is_datetime_sample(values: list[Any]) -> bool:
    """Whether a text column's first distinct values (``DATETIME_SAMPLE`` of them) are all ISO 8601."""
    sample = pd.Series(values, dtype=object).astype(str)
    if len(sample) == 0 or not bool(sample.str.match(ISO_DATETIME).all()):
        return False
    parsed = pd.to_datetime(sample, format="ISO8601", errors="coerce", utc=True)
    return not bool(parsed.isna().any())


def profile(df: pd.DataFrame, schema: dict[str, str] | None = None) -> dict[str, Any]:
    """Per-column statistics, JSON-serializable: ``{"rows": n, "columns": {name: {...}}}``.

    Every column has ``type``, ``missing``, ``missing_ratio`` and ``unique``; numeric columns add
    ``min, max, mean, std`` and ``quantiles`` (p01 ... p99) over their finite values and ``infinite``;
    boolean columns ``true_ratio``; string and datetime columns the ``top`` categories (at most
    ``TOP_CATEGORIES``, with counts) and ``other_count`` for the rest, datetime also ``min``/``max``.
    """
    types = schema if schema is not None else infer_schema(df)
    rows = len(df)
    columns: dict[str, dict[str, Any]] = {}
    for column in df.columns:
        name = str(column)
        series = df[column]
        logical = types.get(name) or _logical_type(series)
        missing = int(series.isna().sum())
        stats: dict[str, Any] = {
            "type": logical,
            "missing": missing,
            "missing_ratio": missing / rows if rows else 0.0,
            "unique": int(series.nunique(dropna=True)),
        }
        if logical == "boolean":
            flags = series.dropna().astype(bool)
            stats["true_ratio"] = float(flags.mean()) if len(flags) else None
            stats.update(_top_categories(series))
        elif logical in NUMERIC_TYPES:
            stats.update(_numeric_stats(series))
        else:
            stats.update(_top_categories(series))
            if logical == "datetime":
                texts = series.dropna().astype(str)
                stats["min"] = str(texts.min()) if len(texts) else None
                stats["max"] = str(texts.max()) if len(texts) else None
        columns[name] = stats
    return {"rows": rows, "columns": columns}


def _numeric_stats(series: pd.Series) -> dict[str, Any]:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    finite = values[np.isfinite(values)]
    infinite = int(np.isinf(values).sum())
    if len(finite) == 0:
        return numeric_stats(None, QUANTILES, [], infinite)
    std = float(finite.std(ddof=1)) if len(finite) > 1 else 0.0
    figures = (float(finite.min()), float(finite.max()), float(finite.mean()), std)
    return numeric_stats(figures, QUANTILES, [float(v) for v in np.quantile(finite, QUANTILES)], infinite)


def _top_categories(series: pd.Series) -> dict[str, Any]:
    counts = series.dropna().astype(str).value_counts()
    top = counts.head(TOP_CATEGORIES)
    return {
        "top": [{"value": str(value), "count": int(count)} for value, count in top.items()],
        "other_count": int(counts.iloc[TOP_CATEGORIES:].sum()),
    }


def to_parquet_bytes(df: pd.DataFrame) -> bytes:
    """The canonical copy of a dataset version (pyarrow Parquet, no index)."""
    buffer = io.BytesIO()
    df.to_parquet(buffer, engine="pyarrow", index=False)
    return buffer.getvalue()


def read_parquet_bytes(data: bytes) -> pd.DataFrame:
    """Read back what ``to_parquet_bytes`` or streaming ingest wrote, with the same columns and dtypes.

    Streaming ingest writes no pandas metadata: a boolean column with gaps comes back as objects,
    made the nullable boolean ``read_csv_bytes`` gives.
    """
    return _normalize_booleans(pd.read_parquet(io.BytesIO(data), engine="pyarrow"))
