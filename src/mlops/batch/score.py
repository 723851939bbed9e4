"""The scoring worker: one work item in, one output part (and an errors part) out.

The item's bytes are staged to a local file in chunks, read back as Arrow record batches, validated,
scored with onnxruntime and written batch by batch, so memory stays bounded by the record batch size
whatever the input's. Part names come from the item's index: a retried item overwrites its own part.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from mlops.batch import columns
from mlops.batch.entities import BatchFormat, InputObject, PartResult, S3Location, WorkItem
from mlops.batch.objects import BatchObjects
from mlops.serving.model_store import LoadedModel
from mlops.signature_types import FeatureSpecLike

BLOCK_BYTES = 4 * 1024 * 1024  # Arrow's read block: the unit of streaming, and of memory
CONTENT_TYPES = {
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}
EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}


def part_key(output: S3Location, index: int, fmt: BatchFormat, errors: bool = False) -> str:
    folder = f"{output.key}errors/" if errors else output.key
    return f"{folder}part-{index:05d}.{EXTENSIONS[fmt]}"


def part_result_key(output: S3Location, index: int) -> str:
    return f"{output.key}_parts/part-{index:05d}.json"


# ---- reading ------------------------------------------------------------------------------------


def _csv_batches(
    path: Path, tolerant: bool, header: list[str], numeric: list[FeatureSpecLike]
) -> Iterator[pa.RecordBatch]:
    if tolerant:  # every cell as text: a bad value fails its row, not the file
        types: dict[str, pa.DataType] = {name: pa.string() for name in header}
    else:
        types = {
            f.name: pa.bool_() if f.dtype == "boolean" else pa.float64() for f in numeric if f.name in header
        }
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
        convert_options=pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=tolerant, quoted_strings_can_be_null=False
        ),
    )
    yield from reader


UNPARSED = "\x00unparsed"  # the tolerant JSON reader's column of reasons (no input column has this name)


def _jsonl_batches(path: Path, tolerant: bool) -> Iterator[pa.RecordBatch]:
    if not tolerant:
        yield from pajson.open_json(path, read_options=pajson.ReadOptions(block_size=BLOCK_BYTES))
        return
    # Values of mixed types (a string in a numeric field): every value as text, a bad line fails alone.
    rows: list[dict[str, Any]] = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
                if not isinstance(value, dict):
                    raise ValueError
                rows.append({k: None if v is None else _text(v) for k, v in value.items()})
            except ValueError:
                rows.append({UNPARSED: f"line {number} is not a JSON object"})
            if len(rows) >= 10_000:
                yield _text_batch(rows)
                rows = []
    if rows:
        yield _text_batch(rows)


def _text_batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    names = list(dict.fromkeys(key for row in rows for key in row if key != UNPARSED))
    names.append(UNPARSED)
    return pa.RecordBatch.from_arrays(
        [pa.array([row.get(name) for row in rows], pa.string()) for name in names], names=names
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _parquet_batches(path: Path) -> Iterator[pa.RecordBatch]:
    yield from pq.ParquetFile(path).iter_batches(batch_size=65_536)


# ---- writing ------------------------------------------------------------------------------------


class _Writer:
    """Writes record batches in the job's format to a local file, opening it on the first batch."""

    def __init__(self, path: Path, fmt: BatchFormat) -> None:
        self.path = path
        self.fmt = fmt
        self.rows = 0
        self._writer: Any = None
        self._schema: pa.Schema | None = None
        self._file: BinaryIO | None = None

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if self.fmt == "jsonl":
            if self._file is None:
                self._file = self.path.open("wb")
            self._file.write("".join(json.dumps(r, default=str) + "\n" for r in batch.to_pylist()).encode())
        else:
            if self._writer is None:
                self._schema = batch.schema
                if self.fmt == "csv":
                    self._writer = pacsv.CSVWriter(str(self.path), batch.schema)
                else:
                    # Dictionary encoding pays for text, not for floats (scores, probabilities), where
                    # trying it costs three quarters of the write and makes the file larger.
                    text = [
                        f.name
                        for f in batch.schema
                        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                    ]
                    self._writer = pq.ParquetWriter(
                        str(self.path), batch.schema, use_dictionary=text or False
                    )
            elif batch.schema != self._schema:
                batch = batch.cast(self._schema)
            self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._file is not None:
            self._file.close()


# ---- one item -----------------------------------------------------------------------------------


@dataclass
class PartJob:
    """What every item of one job shares: the pinned model, the output and the columns kept."""

    model: LoadedModel
    output: S3Location
    fmt: BatchFormat
    keep_columns: list[str] | None = None
    objects: BatchObjects = field(default_factory=BatchObjects)


class _FastPathFailed(Exception):
    """Typed reading failed (a value of another type); the part is read again as text."""


def _stage(job: PartJob, source: InputObject, item: WorkItem, folder: Path) -> Path:
    path = folder / f"input.{EXTENSIONS[source.format]}"
    if source.format == "parquet":
        job.objects.download(source.bucket, source.key, path)
        return path
    with path.open("wb") as out:
        if item.header is not None:
            out.write(item.header.encode("utf-8") + b"\n")
        end = source.size if item.end is None else item.end
        job.objects.stage_lines(source.bucket, source.key, item.start, end, source.size, out)
    return path


def _csv_header(path: Path) -> list[str]:
    with path.open("r", encoding="utf-8", newline="") as lines:
        return next(csv.reader([lines.readline()]), [])


def _batches(
    path: Path, fmt: BatchFormat, tolerant: bool, numeric: list[FeatureSpecLike]
) -> Iterator[pa.RecordBatch]:
    if fmt == "csv":
        return _csv_batches(path, tolerant, _csv_header(path), numeric)
    if fmt == "jsonl":
        return _jsonl_batches(path, tolerant)
    return _parquet_batches(path)


@dataclass
class LocalResult:
    """What scoring one local file made: the counts, and the output and errors files (None: no rows)."""

    rows_in: int
    rows_out: int
    rows_failed: int
    reasons: dict[str, int]
    output: Path | None
    errors: Path | None


def _score_file(
    model: LoadedModel, path: Path, fmt: BatchFormat, folder: Path, keep: list[str] | None, tolerant: bool
) -> LocalResult:
    out, err = (
        _Writer(folder / f"out.{EXTENSIONS[fmt]}", fmt),
        _Writer(folder / f"errors.{EXTENSIONS[fmt]}", fmt),
    )
    reasons: dict[str, int] = {}
    rows_in = 0
    try:
        for batch in _batches(path, fmt, tolerant, model.layout.numeric):
            rows_in += batch.num_rows
            unparsed = None
            if UNPARSED in batch.schema.names:  # lines the tolerant JSON reader could not parse
                unparsed = batch.column(UNPARSED).to_pylist()
                batch = batch.drop_columns([UNPARSED])
            checked = columns.validate(model.layout, batch, unparsed)
            if checked.features.rows:
                prediction = model.predict(checked.features)
                scored = columns.scored_columns(prediction, model.classes, model.version)
                out.write(columns.output_batch(batch, keep, checked.ok, scored))
            if checked.failed:
                for why in checked.reasons:
                    if why is not None:
                        reasons[why] = reasons.get(why, 0) + 1
                err.write(columns.errors_batch(batch, checked.ok, checked.reasons))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        if tolerant or fmt == "parquet":
            raise
        raise _FastPathFailed(str(error)) from error
    finally:
        out.close()
        err.close()
    return LocalResult(
        rows_in=rows_in,
        rows_out=out.rows,
        rows_failed=err.rows,
        reasons=reasons,
        output=out.path if out.rows else None,
        errors=err.path if err.rows else None,
    )


def score_file(
    model: LoadedModel, path: Path, fmt: BatchFormat, folder: Path, keep: list[str] | None = None
) -> LocalResult:
    """Score a local file into ``folder``: typed reading first, every value as text if that fails."""
    try:
        return _score_file(model, path, fmt, folder, keep, tolerant=False)
    except _FastPathFailed:
        return _score_file(model, path, fmt, folder, keep, tolerant=True)


def score_item(job: PartJob, item: WorkItem) -> PartResult:
    """Score one item and record its result beside the output (what the job's finalize step adds up)."""
    with tempfile.TemporaryDirectory(prefix="batch-") as temporary:
        folder = Path(temporary)
        local = score_file(
            job.model, _stage(job, item.source, item, folder), job.fmt, folder, job.keep_columns
        )
        output_key = part_key(job.output, item.index, job.fmt)
        errors_key = part_key(job.output, item.index, job.fmt, errors=True)
        if local.output is not None:
            job.objects.upload(local.output, job.output.bucket, output_key, CONTENT_TYPES[job.fmt])
        if local.errors is not None:
            job.objects.upload(local.errors, job.output.bucket, errors_key, CONTENT_TYPES[job.fmt])
    result = PartResult(
        index=item.index,
        rows_in=local.rows_in,
        rows_out=local.rows_out,
        rows_failed=local.rows_failed,
        output_key=output_key if local.output else None,
        errors_key=errors_key if local.errors else None,
        reasons=local.reasons,
    )
    job.objects.put_json(
        S3Location(bucket=job.output.bucket, key=part_result_key(job.output, item.index)),
        result.model_dump(mode="json"),
    )
    return result
