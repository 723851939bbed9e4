"""The processing job's entry point gives what the ingest and validation functions give on the same
file: the sha256, the canonical Parquet, the schema and profile, the validation report; and a file
the functions refuse fails the job with the same sentence in its exit message."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mlops.config import DatasetConfig
from mlops.errors import IngestRefused
from mlops.ml import dataset as ds
from mlops.ml.processing_entry import JobPaths, ProcessingRequest, ProcessingResult, main
from mlops.ml.validation import validate
from mlops.records import details_document


def job(tmp_path: Path, body: bytes) -> JobPaths:
    paths = JobPaths(
        request=tmp_path / "input" / "request" / "request.json",
        raw_dir=tmp_path / "input" / "raw",
        output_dir=tmp_path / "output" / "dataset",
        message=tmp_path / "output" / "message",
    )
    paths.request.parent.mkdir(parents=True)
    paths.raw_dir.mkdir(parents=True)
    (paths.raw_dir / "data.csv").write_bytes(body)
    request = ProcessingRequest(raw_file="data.csv", max_bytes=10**9, config=DatasetConfig(target="label"))
    paths.request.write_text(request.model_dump_json())
    return paths


def run(paths: JobPaths) -> int:
    return main(
        [
            "--request",
            str(paths.request),
            "--raw",
            str(paths.raw_dir),
            "--output",
            str(paths.output_dir),
            "--message",
            str(paths.message),
        ]
    )


def test_the_job_writes_what_the_functions_compute(tmp_path: Path) -> None:
    body = b"x,colour,label\n" + b"".join(
        f"{i * 0.5},{['red', 'blue'][i % 2]},{['yes', 'no'][i % 3 == 0]}\n".encode() for i in range(200)
    )
    paths = job(tmp_path, body)
    assert run(paths) == 0
    result = ProcessingResult.model_validate_json((paths.output_dir / "result.json").read_text())
    frame = ds.read_csv_bytes(body)
    types = ds.infer_schema(frame)
    assert result.sha256 == ds.content_sha256(body) and result.rows == 200 and result.column_types == types
    written = ds.read_parquet_bytes((paths.output_dir / "data.parquet").read_bytes())
    pd.testing.assert_frame_equal(written, ds.read_parquet_bytes(ds.to_parquet_bytes(frame)))
    details = (paths.output_dir / "details.json").read_bytes()
    assert details == details_document(list(types), types, ds.profile(frame, types))
    report = json.loads((paths.output_dir / "report.json").read_text())
    expected = validate(written, DatasetConfig(target="label"), None)
    assert report == json.loads(expected.model_dump_json())
    assert not paths.message.exists()


def test_a_file_the_functions_refuse_fails_the_job_with_their_sentence(tmp_path: Path) -> None:
    paths = job(tmp_path, b"x,label\n")
    assert run(paths) == 1
    with pytest.raises(IngestRefused) as refused:
        ds.read_csv_bytes(b"x,label\n")
    assert paths.message.read_text() == str(refused.value)
    assert not (paths.output_dir / "result.json").exists()
