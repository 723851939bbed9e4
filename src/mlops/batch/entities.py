"""Batch job records: the request, the work items the map fans out, each part's result, the manifest."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops.entities import Record, utcnow

BatchFormat = Literal["csv", "jsonl", "parquet"]
BatchStatus = Literal["RUNNING", "SUCCEEDED", "FAILED"]
BatchTrigger = Literal["cli", "s3"]

FORMAT_SUFFIXES: dict[str, BatchFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class S3Location(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class BatchRequest(Record):
    """What starts a job (the state machine's input): the CLI and the S3 trigger both send this."""

    job_id: str
    model: str
    version: int | None = Field(default=None, description="None: production at the job's start.")
    input: S3Location = Field(description="An object, or a prefix when the key ends with '/'.")
    output: S3Location = Field(description="The output prefix; parts and the manifest go under it.")
    trigger: BatchTrigger = "cli"
    # Input columns copied into the output: None copies them all, [] none.
    keep_columns: list[str] | None = None


class InputObject(Record):
    bucket: str
    key: str
    size: int
    etag: str
    format: BatchFormat
    sha256: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class WorkItem(Record):
    """One unit the map hands to a worker: a whole object, a byte range of a CSV or JSON Lines object,
    or a run of Parquet row groups. ``index`` names its output part, so a retried item overwrites its
    own part and never adds rows."""

    index: int
    source: InputObject
    start: int = 0
    end: int | None = Field(default=None, description="Byte offset past the range; None: to the end.")
    header: str | None = Field(default=None, description="CSV header line, for ranges past the first.")


class PartResult(Record):
    index: int
    rows_in: int
    rows_out: int
    rows_failed: int
    output_key: str | None
    errors_key: str | None
    reasons: dict[str, int] = Field(default_factory=dict, description="Failed rows per reason.")


class BatchJob(Record):
    """The manifest: kept in the metadata table and as ``manifest.json`` under the output prefix."""

    job_id: str
    model: str
    version: int | None = None
    model_sha256: str | None = None
    status: BatchStatus = "RUNNING"
    trigger: BatchTrigger = "cli"
    format: BatchFormat | None = None
    input: S3Location
    output: S3Location
    inputs: list[InputObject] = Field(default_factory=list)
    parts: int = 0
    parts_failed: int = 0
    rows_in: int = 0
    rows_out: int = 0
    rows_failed: int = 0
    failure_reasons: dict[str, int] = Field(default_factory=dict)
    outputs: list[str] = Field(default_factory=list)
    error_files: list[str] = Field(default_factory=list)
    error: str | None = None
    execution_arn: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None

    @property
    def output_uri(self) -> str:
        return self.output.uri
