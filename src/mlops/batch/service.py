"""The batch job's steps, as the batch state machine runs them: plan, score (per map batch), finalize,
fail (starting a job is ``mlops.batch.submit``).

plan pins the model version (a promotion mid-job does not mix versions), hashes the inputs, splits them
into work items and writes the item list the Distributed Map reads. Each worker scores its items into
parts named by item index. finalize adds up the parts' results into the manifest, in DynamoDB and as
``manifest.json`` beside the output.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import onnxruntime as ort

from mlops.batch.entities import (
    FORMAT_SUFFIXES,
    BatchFormat,
    BatchJob,
    BatchRequest,
    InputObject,
    PartResult,
    S3Location,
    WorkItem,
)
from mlops.batch.events import BatchStepEvent
from mlops.batch.objects import BatchObjects
from mlops.batch.score import PartJob, part_result_key, score_item
from mlops.entities import utcnow
from mlops.errors import MlopsError, NotFound
from mlops.registry import Registry
from mlops.serving.model_store import LoadedModel, session_options, version_artifacts
from mlops.signature_types import BULK_ARTIFACT
from mlops.storage import Storage


class BatchRefused(MlopsError):
    """The job cannot run: no such model version, no input, an input of an unknown or mixed format."""


@dataclass(frozen=True)
class BatchConfig:
    """The engine's knobs, from the function's settings (the stage's configuration)."""

    part_bytes: int = 64 * 1024 * 1024
    max_concurrency: int = 10
    tolerated_failure_percentage: float = 0.0
    items_per_batch: int = 4


@dataclass(frozen=True)
class BatchDeps:
    registry: Registry
    storage: Storage
    objects: BatchObjects
    artifact_bucket: str


def _location(document: dict[str, Any]) -> S3Location:
    return S3Location.model_validate(document)


def items_location(output: S3Location) -> S3Location:
    return S3Location(bucket=output.bucket, key=f"{output.key}_job/items.json")


def manifest_location(output: S3Location) -> S3Location:
    return S3Location(bucket=output.bucket, key=f"{output.key}manifest.json")


# ---- plan -----------------------------------------------------------------------------------------


def _format_of(key: str) -> BatchFormat | None:
    lowered = key.lower()
    return next((fmt for suffix, fmt in FORMAT_SUFFIXES.items() if lowered.endswith(suffix)), None)


def _inputs(deps: BatchDeps, request: BatchRequest) -> list[InputObject]:
    found: list[InputObject] = []
    prefix = request.input.key.endswith("/")
    for obj in deps.objects.list(request.input):
        key = str(obj["Key"])
        name = key.rsplit("/", 1)[-1]
        if prefix and (not name or name.startswith(("_", ".")) or int(obj["Size"]) == 0):
            continue  # folders, markers and hidden files of a dataset prefix
        fmt = _format_of(key)
        if fmt is None:
            raise BatchRefused(f"s3://{request.input.bucket}/{key} is not .csv, .jsonl or .parquet.")
        sha256 = deps.objects.sha256(request.input.bucket, key)
        found.append(
            InputObject(
                bucket=request.input.bucket,
                key=key,
                size=int(obj["Size"]),
                etag=str(obj["ETag"]).strip('"'),
                format=fmt,
                sha256=sha256,
            )
        )
    if not found:
        raise BatchRefused(f"{request.input.uri} holds no .csv, .jsonl or .parquet object to score.")
    formats = sorted({i.format for i in found})
    if len(formats) > 1:
        raise BatchRefused(
            f"{request.input.uri} mixes formats ({', '.join(formats)}); score each separately."
        )
    return found


def _csv_header(deps: BatchDeps, source: InputObject) -> tuple[str, int]:
    head = deps.objects.head_bytes(source.bucket, source.key)
    newline = head.find(b"\n")
    if newline < 0:
        if len(head) < 64 * 1024:
            return head.decode("utf-8-sig").rstrip("\r"), source.size
        raise BatchRefused(f"{source.uri} has no header line within its first 64 KiB.")
    return head[:newline].decode("utf-8-sig").rstrip("\r"), newline + 1


def split(deps: BatchDeps, inputs: list[InputObject], config: BatchConfig) -> list[WorkItem]:
    """Work items: CSV and JSON Lines objects in byte ranges of ``part_bytes``, Parquet objects whole."""
    items: list[WorkItem] = []
    for source in inputs:
        if source.format == "parquet":
            items.append(WorkItem(index=len(items), source=source))
            continue
        header, start = _csv_header(deps, source) if source.format == "csv" else (None, 0)
        while start < source.size or (start == source.size and not any(i.source == source for i in items)):
            end = min(start + config.part_bytes, source.size)
            items.append(WorkItem(index=len(items), source=source, start=start, end=end, header=header))
            if end >= source.size:
                break
            start = end
    return items


def plan(
    deps: BatchDeps, request: BatchRequest, config: BatchConfig, execution_arn: str | None
) -> dict[str, Any]:
    """Pin the version, list and hash the inputs, write the items file; the map's input."""
    jobs = deps.registry.batch_jobs
    job = jobs.find(request.job_id)
    if job is None or job.version is None:
        version = request.version
        if version is None:
            alias = deps.registry.models.get_alias(request.model)
            if alias is None:
                if not deps.registry.models.list_model_versions(request.model):
                    raise BatchRefused(f"No model named '{request.model}'.")
                raise BatchRefused(f"Model '{request.model}' has no production version; pass --version.")
            version = alias.version
        try:
            model = deps.registry.models.get_model_version(request.model, version)
        except NotFound as error:
            raise BatchRefused(str(error)) from error
        onnx = model.artifacts.get("onnx")
        if onnx is None:
            raise BatchRefused(f"Model '{request.model}' version {version} has no ONNX artifact.")
        inputs = _inputs(deps, request)
        job = BatchJob(
            job_id=request.job_id,
            model=request.model,
            version=version,
            model_sha256=onnx.sha256,
            trigger=request.trigger,
            format=inputs[0].format,
            input=request.input,
            output=request.output,
            inputs=inputs,
            execution_arn=execution_arn,
        )
        if not jobs.create(job):
            job = jobs.get(request.job_id)
    assert job.format is not None and job.version is not None
    items = split(deps, job.inputs, config)
    if job.parts != len(items):
        job = job.model_copy(update={"parts": len(items)})
        jobs.save(job)
    location = items_location(job.output)
    deps.objects.put_json(location, [i.model_dump(mode="json") for i in items])
    return {
        "job": {
            "job_id": job.job_id,
            "model": job.model,
            "version": job.version,
            "format": job.format,
            "output": job.output.model_dump(),
            "keep_columns": request.keep_columns,
        },
        "items": location.model_dump(),
        "max_concurrency": config.max_concurrency,
        "tolerated_failure_percentage": config.tolerated_failure_percentage,
        "items_per_batch": config.items_per_batch,
    }


# ---- score ----------------------------------------------------------------------------------------

_models: dict[tuple[str, int], LoadedModel] = {}
_models_lock = threading.Lock()


def load_model(deps: BatchDeps, name: str, version: int) -> LoadedModel:
    """The pinned version, loaded once per container (its sha256 checked against the registry)."""
    with _models_lock:
        model = _models.get((name, version))
        if model is None:
            record = deps.registry.models.get_model_version(name, version)
            onnx, data, signature = version_artifacts(record, deps.storage.get_verified, BatchRefused)
            options = session_options()
            options.intra_op_num_threads = 0  # a whole core or more for bulk rows, not one request
            session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
            bulk_ref = record.artifacts.get(BULK_ARTIFACT)
            bulk = (
                None
                if bulk_ref is None
                # Batches are large: a tree ensemble's bulk graph scores them (its sha256 checked too;
                # a graph that fails to load or verify fails the batch, which is retried).
                else lambda: ort.InferenceSession(
                    deps.storage.get_verified(bulk_ref), options, providers=["CPUExecutionProvider"]
                )
            )
            model = LoadedModel(record, signature, session, onnx.sha256, bulk=bulk)
            _models.clear()  # one job's version at a time: a worker serves one job
            _models[(name, version)] = model
        return model


def score_batch(deps: BatchDeps, event: dict[str, Any]) -> dict[str, Any]:
    """One batch of the map: ``{"BatchInput": {"job": ...}, "Items": [WorkItem, ...]}``."""
    job = event["BatchInput"]["job"]
    model = load_model(deps, job["model"], int(job["version"]))
    part_job = PartJob(
        model=model,
        output=_location(job["output"]),
        fmt=job["format"],
        keep_columns=job.get("keep_columns"),
        objects=deps.objects,
    )
    results = [score_item(part_job, WorkItem.model_validate(item)) for item in event["Items"]]
    return {
        "parts": [{"index": r.index, "rows_out": r.rows_out, "rows_failed": r.rows_failed} for r in results]
    }


# ---- finalize and fail ----------------------------------------------------------------------------


def finalize(deps: BatchDeps, job_id: str) -> BatchJob:
    """Add up the parts' results; a part without a result failed (the map tolerated it)."""
    job = deps.registry.batch_jobs.get(job_id)
    totals = {"rows_in": 0, "rows_out": 0, "rows_failed": 0}
    reasons: dict[str, int] = {}
    outputs: list[str] = []
    errors: list[str] = []
    missing = 0
    for index in range(job.parts):
        try:
            document = deps.objects.get_json(
                S3Location(bucket=job.output.bucket, key=part_result_key(job.output, index))
            )
        except NotFound:
            missing += 1
            continue
        part = PartResult.model_validate(document)
        for key in totals:
            totals[key] += getattr(part, key)
        for why, count in part.reasons.items():
            reasons[why] = reasons.get(why, 0) + count
        if part.output_key:
            outputs.append(f"s3://{job.output.bucket}/{part.output_key}")
        if part.errors_key:
            errors.append(f"s3://{job.output.bucket}/{part.errors_key}")
    finished = job.model_copy(
        update={
            **totals,
            "status": "SUCCEEDED" if missing == 0 else "FAILED",
            "parts_failed": missing,
            "failure_reasons": reasons,
            "outputs": outputs,
            "error_files": errors,
            "error": None if missing == 0 else f"{missing} of {job.parts} parts failed after their retries.",
            "ended_at": utcnow(),
        }
    )
    deps.objects.put_json(manifest_location(job.output), finished.model_dump(mode="json"))
    deps.registry.batch_jobs.save(finished)
    return finished


def _sentence(error: dict[str, Any] | None) -> str:
    if not error:
        return "The batch job failed."
    cause = str(error.get("Cause") or "")
    try:
        message = str(json.loads(cause).get("errorMessage") or "")
    except (ValueError, AttributeError):
        message = cause
    return message or f"The batch job failed with {error.get('Error', 'an error')}."


def fail(deps: BatchDeps, request: BatchRequest, error: dict[str, Any] | None) -> BatchJob:
    job = deps.registry.batch_jobs.find(request.job_id) or BatchJob(
        job_id=request.job_id,
        model=request.model,
        version=request.version,
        trigger=request.trigger,
        input=request.input,
        output=request.output,
    )
    failed = job.model_copy(update={"status": "FAILED", "error": _sentence(error), "ended_at": utcnow()})
    deps.registry.batch_jobs.save(failed)
    return failed


def run_step(deps: BatchDeps, config: BatchConfig, step: BatchStepEvent) -> dict[str, Any]:
    """One state of the batch state machine."""
    if step.action == "plan":
        return plan(deps, BatchRequest.model_validate(step.request), config, step.execution)
    if step.action == "score":
        return score_batch(deps, step.batch or {})
    if step.action == "finalize":
        return finalize(deps, str(step.job_id)).model_dump(mode="json")
    return fail(deps, BatchRequest.model_validate(step.request), step.error).model_dump(mode="json")


@lru_cache(maxsize=4)
def build_batch_deps(metadata_table: str, artifact_bucket: str) -> BatchDeps:
    return BatchDeps(Registry(metadata_table), Storage(), BatchObjects(), artifact_bucket)
