"""Ingest: an object under raw/<dataset>/ becomes a dataset version (keyed by its sha256) and a run.

At-least-once delivery is the rule: the raw object is recorded by a conditional write keyed on
bucket, key and etag; content identical to an existing version starts nothing unless the dataset's
config changed since that version was last run (identical bytes under a changed config train again);
the run id (and so the execution name) derives from the content and the config revision, so a
redelivered event cannot start a second execution. ``raw/<dataset>/mlops.yaml`` is the dataset's
config object (``mlops.pipeline.config_object``), never a CSV.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel

from mlops import multipart
from mlops.artifact_keys import dataset_key, dataset_staging_key
from mlops.definition.description import PROCESSING_MIN_BYTES
from mlops.entities import ArtifactRef, DatasetVersion, RawObject, RawObjectRef, Run, StageRecord, utcnow
from mlops.errors import ConfigError, IngestRefused, NotFound, RecordTooLarge
from mlops.multipart import PART_BYTES, MultipartUpload
from mlops.pipeline.config_object import apply_config_object, is_config_object, sync_config_object
from mlops.pipeline.deps import Deps
from mlops.pipeline.payload import IngestRequest
from mlops.pipeline.runs import start_run
from mlops.pipeline.versions import record_version
from mlops.records import details_document
from mlops.storage import Storage

if TYPE_CHECKING:
    from mlops.ml.csvstream import StreamedTable

RAW_PREFIX = "raw/"
# The Parquet copy held in memory before its multipart upload starts: up to this size (a CSV of about
# 80 MiB of numbers) it goes straight to its canonical key with one PUT, with no staging copy to move.
WHOLE_PARQUET_BYTES = 32 * 1024**2
# Lambda's first try and its two asynchronous retries (infra and the embedded runtime retry twice):
# after the last one fails, the upload is refused with the failure as its reason.
INGEST_ATTEMPTS = 3
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class IngestOutcome(BaseModel):
    action: Literal["started", "duplicate", "refused", "ignored", "redelivered", "configured"]
    dataset: str | None = None
    sha256: str | None = None
    run_id: str | None = None
    reason: str | None = None


def dataset_from_key(key: str) -> str | None:
    """``raw/<dataset>/<file>.csv`` -> dataset; None for keys the pipeline does not train on."""
    if not key.startswith(RAW_PREFIX):
        return None
    parts = key[len(RAW_PREFIX) :].split("/")
    if len(parts) < 2 or not parts[-1].lower().endswith(".csv"):
        return None
    return parts[0]


def upload_run_id(dataset: str, sha256: str, config_revision: int | None = None) -> str:
    """The first run of some content; a rerun of identical content under config revision N ends -cN."""
    base = f"{dataset}-upload-{sha256[:16]}"
    return base if config_revision is None else f"{base}-c{config_revision}"


def ingest_object(
    deps: Deps,
    state_machine_arn: str,
    bucket: str,
    key: str,
    etag: str,
    size: int,
    version_id: str | None = None,
    sequencer: str | None = None,
    max_bytes: int = 2 * 1024**3,
    processing_min_bytes: int = PROCESSING_MIN_BYTES,
) -> IngestOutcome:
    """Ingest one object; an unexpected failure is recorded on its raw record (and re-raised, so Lambda
    retries), and the last attempt's failure refuses the upload with a FAILED run naming it.

    An object of at least ``processing_min_bytes`` is not read here: its run starts at once, and the
    state machine ingests and validates it as a SageMaker Processing job (``mlops.pipeline.processing``).
    """
    limits = (max_bytes, processing_min_bytes)
    try:
        return _ingest(deps, state_machine_arn, bucket, key, etag, size, version_id, sequencer, limits)
    except Exception as error:
        dataset = dataset_from_key(unquote_plus(key))
        raw_key, raw_etag = unquote_plus(key), etag.strip('"')
        record = (
            None
            if dataset is None
            else deps.registry.datasets.get_raw_object(dataset, bucket, raw_key, raw_etag)
        )
        if record is None or record.status != "ACCEPTED" or record.run_id:
            raise
        attempts = record.attempts + 1
        reason = f"Ingest failed ({type(error).__name__}: {error})".rstrip(".") + "."
        if attempts < INGEST_ATTEMPTS:
            deps.registry.datasets.update_raw_object(
                record.model_copy(update={"attempts": attempts, "last_error": reason})
            )
            raise
        return _refuse(deps, record.dataset, record.raw, None, f"{reason[:-1]}, {attempts} times.")


def _ingest(
    deps: Deps,
    state_machine_arn: str,
    bucket: str,
    key: str,
    etag: str,
    size: int,
    version_id: str | None,
    sequencer: str | None,
    limits: tuple[int, int],
) -> IngestOutcome:
    max_bytes, processing_min_bytes = limits
    started = utcnow()
    key = unquote_plus(key)
    if is_config_object(key):
        return _configure(deps, bucket, key, etag, size, version_id, sequencer)
    dataset = dataset_from_key(key)
    if dataset is None:
        return IngestOutcome(
            action="ignored", reason=f"s3://{bucket}/{key} is not a CSV under raw/<dataset>/."
        )
    raw = RawObjectRef(
        bucket=bucket, key=key, etag=etag.strip('"'), version_id=version_id, size=size, sequencer=sequencer
    )
    if not DATASET_NAME.match(dataset):
        return _refuse(
            deps,
            dataset,
            raw,
            None,
            f"Dataset name '{dataset}' must be 1-64 letters, digits, '.', '_' or '-'.",
        )

    record, _ = deps.registry.datasets.put_raw_object(RawObject(dataset=dataset, raw=raw, status="ACCEPTED"))
    if record.run_id or record.status != "ACCEPTED":
        return _redelivered(deps, state_machine_arn, record, limits)
    config_object = sync_config_object(deps, bucket, dataset)
    if config_object is not None and config_object.status == "REFUSED":
        reason = f"The dataset's config object {config_object.raw.uri} is invalid ({config_object.reason})"
        return _refuse(
            deps, dataset, raw, None, reason.rstrip(".") + "; fix or delete it, then upload again."
        )
    # A new object, or one whose first delivery stopped early: (re)do the work; every write below is
    # conditional or idempotent, so two deliveries racing end in one version and one run.
    if size > max_bytes:  # refused before a byte is read: the event says how big it is
        return _refuse(deps, dataset, raw, None, _too_large(size, max_bytes))
    if size >= processing_min_bytes:
        return _start_processing_run(deps, state_machine_arn, record, limits, started)

    try:
        upload = read_upload(_s3(deps), raw, deps.data_bucket, dataset, max_bytes)
    except NotFound:
        return _refuse(deps, dataset, raw, None, f"s3://{bucket}/{key} was deleted before it could be read.")
    except IngestRefused as error:
        return _refuse(deps, dataset, raw, None, str(error))
    sha = upload.table.sha256
    try:
        version = deps.registry.datasets.find_dataset_version(dataset, sha)
        if version is None:
            version = _new_version(deps, dataset, raw, upload)
    except RecordTooLarge as error:
        return _refuse(deps, dataset, raw, sha, str(error))
    finally:
        upload.discard()
    current = deps.registry.datasets.current_config(dataset)
    revision = current.revision if current else None
    run_id = upload_run_id(dataset, sha)
    if (version.raw.bucket, version.raw.key, version.raw.etag) != (raw.bucket, raw.key, raw.etag):
        if _ran_under(deps, dataset, sha, revision):
            return _duplicate(deps, dataset, raw, sha)
        run_id = upload_run_id(dataset, sha, revision or 0)

    deps.registry.datasets.update_raw_object(record.model_copy(update={"sha256": sha, "run_id": run_id}))
    run = start_run(deps, state_machine_arn, run_id, dataset, sha, "upload", config_revision=revision)
    deps.registry.runs.put_stage(
        run.run_id,
        StageRecord(
            name="ingest",
            status="SUCCEEDED",
            started_at=started,
            ended_at=utcnow(),
            duration_s=(utcnow() - started).total_seconds(),
            summary={
                "rows": version.rows,
                "columns": version.column_count or len(version.columns),
                "sha256": sha,
                "raw": raw.uri,
            },
        ),
    )
    return IngestOutcome(action="started", dataset=dataset, sha256=sha, run_id=run.run_id)


def _ran_under(deps: Deps, dataset: str, sha: str, revision: int | None) -> bool:
    """Whether some run already took this content through the pipeline under this config revision."""
    return any(
        run.dataset_version == sha and (run.config_revision or 0) == (revision or 0)
        for run in deps.registry.runs.list_runs(dataset, limit=500)
    )


def _too_large(size: int, max_bytes: int) -> str:
    return f"The file is {size} bytes; uploads are limited to {max_bytes} bytes."


def _ingest_request(raw: RawObjectRef, limits: tuple[int, int]) -> IngestRequest:
    return IngestRequest(
        bucket=raw.bucket,
        key=raw.key,
        etag=raw.etag,
        version_id=raw.version_id,
        size=raw.size or 0,
        max_bytes=limits[0],
        processing_min_bytes=limits[1],
    )


def processing_run_id(dataset: str, raw: RawObjectRef) -> str:
    """A run whose content is hashed later, by its processing job: keyed by the object, not the content."""
    digest = hashlib.sha256(f"{raw.bucket}\n{raw.key}\n{raw.etag}\n{raw.version_id}".encode()).hexdigest()
    return f"{dataset}-upload-{digest[:16]}-job"


def _start_processing_run(
    deps: Deps, state_machine_arn: str, record: RawObject, limits: tuple[int, int], started: datetime
) -> IngestOutcome:
    """Start the run of an upload too big for the functions; its ingest stage stays RUNNING until the
    processing job the state machine starts has hashed and read it."""
    run_id = processing_run_id(record.dataset, record.raw)
    deps.registry.datasets.update_raw_object(record.model_copy(update={"run_id": run_id}))
    current = deps.registry.datasets.current_config(record.dataset)
    deps.registry.runs.put_stage(
        run_id,
        StageRecord(
            name="ingest",
            status="RUNNING",
            started_at=started,
            summary={"backend": "processing", "raw": record.raw.uri, "bytes": record.raw.size},
        ),
    )
    run = start_run(
        deps,
        state_machine_arn,
        run_id,
        record.dataset,
        "",
        "upload",
        config_revision=current.revision if current else None,
        ingest=_ingest_request(record.raw, limits),
    )
    return IngestOutcome(action="started", dataset=record.dataset, run_id=run.run_id)


def _configure(
    deps: Deps,
    bucket: str,
    key: str,
    etag: str,
    size: int,
    version_id: str | None,
    sequencer: str | None,
) -> IngestOutcome:
    dataset = key.split("/")[1]
    raw = RawObjectRef(
        bucket=bucket, key=key, etag=etag.strip('"'), version_id=version_id, size=size, sequencer=sequencer
    )
    if not DATASET_NAME.match(dataset):
        return IngestOutcome(
            action="refused",
            dataset=dataset,
            reason=f"Dataset name '{dataset}' must be 1-64 letters, digits, '.', '_' or '-'.",
        )
    head = deps.storage.head(bucket, key)
    modified = head.last_modified if head and head.last_modified else utcnow()
    record = apply_config_object(deps, dataset, raw, modified)
    action = "refused" if record.status == "REFUSED" else "configured"
    return IngestOutcome(action=action, dataset=dataset, reason=record.reason)


@dataclass(frozen=True)
class ReadUpload:
    """An upload read: what it holds, and its Parquet copy, written but not closed until it is stored.

    A copy of up to ``WHOLE_PARQUET_BYTES`` is still in memory and goes to its key with one PUT; a bigger
    one went up in parts under a staging key (its content's sha256, which names the key, was not known
    yet) and is completed there and copied.
    """

    table: StreamedTable
    parquet: MultipartUpload

    def store(self, storage: Storage, key: str) -> ArtifactRef:
        """The Parquet copy at ``key`` in its bucket, with its sha256 recorded."""
        self.parquet.close(whole_key=key)
        written = self.parquet.ref
        if written is None:  # close() sets it; a failed close raised
            raise IngestRefused("The file's Parquet copy could not be written.")
        if written.key == key:
            return written
        try:
            return multipart.copy(
                storage, written.bucket, written.key, written.model_copy(update={"key": key})
            )
        finally:
            multipart.delete(storage, written.bucket, written.key)

    def discard(self) -> None:
        """Drop a copy that was not stored (nothing is left of it, held or in parts)."""
        if not self.parquet.closed:
            self.parquet.abort()


def read_upload(
    storage: Storage,
    raw: RawObjectRef,
    data_bucket: str,
    dataset: str,
    max_bytes: int,
    block_size: int | None = None,
    part_bytes: int = PART_BYTES,
    whole_bytes: int = WHOLE_PARQUET_BYTES,
) -> ReadUpload:
    """Stream a raw CSV into Parquet (a multipart upload), hashing, typing and profiling it on the way.

    Memory stays bounded whatever the file's size (``mlops.ml.csvstream``; the Parquet copy holds at
    most ``whole_bytes`` before its upload starts); a refused or failed read aborts its upload, leaving
    nothing behind. The caller stores or discards the copy (``ReadUpload``). Raises ``IngestRefused``
    (one sentence) or ``NotFound``.
    """
    from mlops.ml.csvstream import BLOCK_SIZE, stream_csv  # heavy (pyarrow, pandas): the ingest image only

    identity = hashlib.sha256(f"{raw.uri}#{raw.etag}#{raw.version_id or ''}".encode()).hexdigest()[:24]
    uploads: list[MultipartUpload] = []

    def open_output() -> MultipartUpload:
        key = dataset_staging_key(dataset, identity)
        upload = MultipartUpload(storage, data_bucket, key, part_bytes=part_bytes, whole_bytes=whole_bytes)
        uploads.append(upload)
        return upload

    try:
        table = stream_csv(
            lambda: storage.open(raw.bucket, raw.key, raw.version_id),
            open_output,
            max_bytes,
            block_size or BLOCK_SIZE,
        )
    except BaseException:
        for upload in uploads:
            upload.abort()
        raise
    return ReadUpload(table, uploads[-1])


def _s3(deps: Deps) -> Storage:
    """Streaming ingest writes multipart uploads and copies, which only the S3 adapter offers."""
    if not isinstance(deps.storage, Storage):
        raise ConfigError("Streaming ingest needs the S3 adapter (mlops.storage.Storage) as its storage.")
    return deps.storage


def _new_version(deps: Deps, dataset: str, raw: RawObjectRef, upload: ReadUpload) -> DatasetVersion:
    """Store the version: its Parquet copy and details (profile, every column) in S3, a bounded item."""
    table = upload.table
    canonical = upload.store(_s3(deps), dataset_key(dataset, table.sha256, "data.parquet"))
    details = deps.storage.put(
        deps.data_bucket,
        dataset_key(dataset, table.sha256, "details.json"),
        details_document(table.columns, table.column_types, table.profile),
        "application/json",
    )
    stored = (canonical, details)
    return record_version(
        deps, dataset, table.sha256, raw, table.rows, table.columns, table.column_types, stored
    )


def _redelivered(
    deps: Deps, state_machine_arn: str, record: RawObject, limits: tuple[int, int]
) -> IngestOutcome:
    """The same object again: finish what an interrupted first delivery left undone, start nothing new."""
    processing = record.run_id == processing_run_id(record.dataset, record.raw)
    if record.status == "ACCEPTED" and record.run_id and (record.sha256 or processing):
        current = deps.registry.datasets.current_config(record.dataset)
        start_run(
            deps,
            state_machine_arn,
            record.run_id,
            record.dataset,
            record.sha256 or "",
            "upload",
            config_revision=current.revision if current else None,
            ingest=_ingest_request(record.raw, limits) if processing else None,
        )
    return IngestOutcome(
        action="redelivered",
        dataset=record.dataset,
        sha256=record.sha256,
        run_id=record.run_id,
        reason=record.reason,
    )


def _duplicate(deps: Deps, dataset: str, raw: RawObjectRef, sha: str) -> IngestOutcome:
    reason = f"Content identical to dataset version {sha[:12]}; no training started."
    deps.registry.datasets.update_raw_object(
        RawObject(dataset=dataset, raw=raw, status="DUPLICATE", sha256=sha, reason=reason)
    )
    return IngestOutcome(action="duplicate", dataset=dataset, sha256=sha, reason=reason)


def _refuse(deps: Deps, dataset: str, raw: RawObjectRef, sha: str | None, reason: str) -> IngestOutcome:
    """A refused upload still leaves a FAILED run, so `mlops runs list` and `upload --wait` show why."""
    run_id = f"{dataset}-upload-{(sha or raw.etag)[:16]}-refused"
    now = utcnow()
    run = Run(
        run_id=run_id,
        dataset=dataset,
        trigger="upload",
        status="FAILED",
        dataset_version=sha,
        started_at=now,
        ended_at=now,
        failed_stage="ingest",
        error=reason,
    )
    deps.registry.runs.create_run(run)
    deps.registry.runs.put_stage(
        run_id,
        StageRecord(
            name="ingest", status="FAILED", started_at=now, ended_at=now, duration_s=0.0, error=reason
        ),
    )
    deps.registry.datasets.update_raw_object(
        RawObject(dataset=dataset, raw=raw, status="REFUSED", sha256=sha, run_id=run_id, reason=reason)
    )
    return IngestOutcome(action="refused", dataset=dataset, sha256=sha, run_id=run_id, reason=reason)
