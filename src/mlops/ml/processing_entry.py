"""SageMaker Processing-job entry point: ingest and validation of an upload past what a function holds.

``/var/lang/bin/python3.12 -m mlops.ml.processing_entry --request FILE --raw DIR --output DIR --message
FILE`` in the ML image (``mlops.pipeline.processing.ENTRYPOINT``), the image training's SageMaker jobs
run. The paths are the job's ``/opt/ml/processing/...`` locations, named in its request:

- ``--request``: ``request.json`` (the raw file's name, the upload limit, the run's dataset config and
  the schema of the dataset's last accepted version), which the starting function wrote;
- ``--raw``: the directory SageMaker downloaded the uploaded CSV into;
- ``--output``: what SageMaker uploads when the job ends: ``data.parquet`` (the canonical copy),
  ``details.json`` (columns, types, profile), ``report.json`` (the validation report) and
  ``result.json`` (sha256 of the upload, rows, columns, types, and the sha256 of each file above);
- ``--message``: on failure, the one-sentence reason, written to ``/opt/ml/output/message``, which
  SageMaker reports as the job's ``ExitMessage``; the exit code is then 1.

It runs the same reading, typing, profiling and validation functions as the ingest and validation
functions; the registry bookkeeping stays with the function that polls the job.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from mlops.config import DatasetConfig
from mlops.errors import IngestRefused, MlopsError
from mlops.ml.csvstream import stream_csv
from mlops.ml.validation import AcceptedSchema
from mlops.ml.validation_stream import validate_parquet
from mlops.records import details_document

logger = logging.getLogger("mlops.ml.processing_entry")

REQUEST_FILE = "request.json"
RESULT_FILE = "result.json"
PARQUET_FILE = "data.parquet"
DETAILS_FILE = "details.json"
REPORT_FILE = "report.json"
EXIT_MESSAGE_BYTES = 1024  # what DescribeProcessingJob's ExitMessage keeps


class ProcessingRequest(BaseModel):
    """What the starting function hands the job besides the raw file."""

    raw_file: str
    max_bytes: int
    config: DatasetConfig
    previous: AcceptedSchema | None = None


class ProcessingResult(BaseModel):
    """``result.json``: the dataset version the job made, and the digests of its files."""

    sha256: str
    rows: int
    columns: list[str]
    column_types: dict[str, str]
    files: dict[str, str]  # file name -> sha256


@dataclass(frozen=True)
class JobPaths:
    request: Path
    raw_dir: Path
    output_dir: Path
    message: Path


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class _ParquetFile(io.FileIO):
    """The canonical copy's destination: a local file, removed when a read is abandoned."""

    def abort(self) -> None:
        self.close()
        Path(str(self.name)).unlink(missing_ok=True)


def process(paths: JobPaths) -> ProcessingResult:
    """Ingest the raw file, then validate the canonical copy as the validation function reads it.

    Both stream (``mlops.ml.csvstream``, ``mlops.ml.validation_stream``), so the job's memory stays
    bounded whatever the file's size."""
    request = ProcessingRequest.model_validate_json(paths.request.read_text())
    raw = paths.raw_dir / request.raw_file
    if not raw.is_file():
        raise IngestRefused(f"The processing job found no {request.raw_file} in its input.")
    size = raw.stat().st_size
    if size > request.max_bytes:
        raise IngestRefused(f"The file is {size} bytes; uploads are limited to {request.max_bytes} bytes.")
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    parquet = paths.output_dir / PARQUET_FILE
    table = stream_csv(lambda: raw.open("rb"), lambda: _ParquetFile(parquet, "w"), request.max_bytes)
    (paths.output_dir / DETAILS_FILE).write_bytes(
        details_document(table.columns, table.column_types, table.profile)
    )
    report = validate_parquet(str(parquet), request.config, request.previous)
    (paths.output_dir / REPORT_FILE).write_text(report.model_dump_json(indent=2))
    result = ProcessingResult(
        sha256=table.sha256,
        rows=table.rows,
        columns=table.columns,
        column_types=table.column_types,
        files={
            name: _file_sha256(paths.output_dir / name) for name in (PARQUET_FILE, DETAILS_FILE, REPORT_FILE)
        },
    )
    (paths.output_dir / RESULT_FILE).write_text(result.model_dump_json())
    return result


def run(paths: JobPaths) -> int:
    """0 with the output written, or 1 with the reason in the exit message."""
    try:
        result = process(paths)
    except MlopsError as exc:
        _fail(paths, str(exc))
        return 1
    except (OSError, ValueError) as exc:
        _fail(paths, f"The processing job could not read or write its files ({type(exc).__name__}: {exc}).")
        return 1
    logger.info("ingested %s: %d rows, %d columns", result.sha256, result.rows, len(result.columns))
    return 0


def _fail(paths: JobPaths, reason: str) -> None:
    logger.error("processing failed: %s", reason)
    paths.message.parent.mkdir(parents=True, exist_ok=True)
    paths.message.write_bytes(reason.encode()[:EXIT_MESSAGE_BYTES])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops.ml.processing_entry")
    parser.add_argument("--request", type=Path)
    parser.add_argument("--raw", type=Path)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--message", type=Path)
    parser.add_argument("--check", action="store_true", help="prove the imports and exit (image build)")
    args = parser.parse_args(argv)
    if args.check:
        return 0
    if None in (args.request, args.raw, args.output, args.message):
        parser.error("--request, --raw, --output and --message are required")
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    return run(JobPaths(args.request, args.raw, args.output, args.message))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
