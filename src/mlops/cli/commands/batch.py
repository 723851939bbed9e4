"""``mlops batch score|list|show``: bulk scoring jobs on the batch state machine."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from boto3.s3.transfer import S3Transfer

from mlops.batch.entities import FORMAT_SUFFIXES, BatchJob, BatchRequest, S3Location
from mlops.batch.submit import new_job_id, start_job
from mlops.cli import render
from mlops.cli.commands.wait import Deadline
from mlops.cli.connection import Context
from mlops.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TIMEOUT, CliError
from mlops.definition import outputs as names
from mlops.definition.description import BATCH_PREFIX
from mlops.executions import StepFunctionsExecutions

LIST_FIELDS = ("job_id", "model", "version", "status", "rows_in", "rows_out", "rows_failed", "output")
_S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.*)$")


def job_row(job: BatchJob) -> dict[str, Any]:
    """A job as ``batch list --json`` prints it (docs/cli.md#mlops-batch-list--mlops-batch-show)."""
    document = job.model_dump(mode="json")
    return {**{name: document[name] for name in LIST_FIELDS if name != "output"}, "output": job.output_uri}


def parse_s3_uri(text: str, what: str) -> S3Location:
    match = _S3_URI.match(text)
    if match is None or not match["bucket"]:
        raise CliError(f"{what} '{text}' is not an s3://bucket/key URI.")
    return S3Location(bucket=match["bucket"], key=match["key"])


def _within_batch(ctx: Context, location: S3Location, what: str) -> None:
    # The batch function reads and writes only there (its IAM scope in the deployed stack).
    data = ctx.outputs.data_bucket
    if location.bucket != data or not location.key.startswith(BATCH_PREFIX):
        raise CliError(f"{what} must be under s3://{data}/{BATCH_PREFIX}, where batch jobs read and write.")


def _upload(ctx: Context, path: Path, model: str, job_id: str) -> S3Location:
    if path.suffix.lower() not in FORMAT_SUFFIXES:
        raise CliError(f"{path} is not a .csv, .jsonl or .parquet file.")
    # Not under batch/<model>/input/: that prefix starts a job of its own.
    location = S3Location(
        bucket=ctx.outputs.data_bucket, key=f"{BATCH_PREFIX}{model}/uploads/{job_id}/{path.name}"
    )
    S3Transfer(ctx.client("s3")).upload_file(str(path), location.bucket, location.key)
    ctx.note(f"Uploaded {path.name} to {location.uri}")
    return location


def run_score(args: argparse.Namespace, ctx: Context) -> int:
    job_id = new_job_id(args.name)
    if args.input.startswith("s3://"):
        source = parse_s3_uri(args.input, "INPUT")
        _within_batch(ctx, source, "INPUT")
    else:
        path = Path(args.input)
        if not path.is_file():
            raise CliError(f"{path} does not exist or is not a file (or pass an s3:// URI).")
        source = None
    output = parse_s3_uri(args.output, "--output")
    if not output.key.endswith("/"):
        output = S3Location(bucket=output.bucket, key=f"{output.key}/")
    _within_batch(ctx, output, "--output")
    keep = None if args.columns is None else [c.strip() for c in args.columns.split(",") if c.strip()]
    if source is None:
        source = _upload(ctx, Path(args.input), args.name, job_id)
    request = BatchRequest(
        job_id=job_id, model=args.name, version=args.version, input=source, output=output, keep_columns=keep
    )
    start_job(
        StepFunctionsExecutions(ctx.client("stepfunctions")),
        ctx.outputs.require(names.BATCH_STATE_MACHINE_ARN),
        request,
    )
    if not args.wait:
        if args.json:
            ctx.say(render.to_json({"job_id": job_id}))
        else:
            ctx.say(f"Started batch job {job_id} (follow it with `mlops batch show {job_id}`).")
        return EXIT_OK
    ctx.note(f"Batch job {job_id} started")
    job = _wait(ctx, job_id, Deadline(ctx, args.timeout))
    _show(ctx, job, args.json)
    return EXIT_OK if job.status == "SUCCEEDED" else EXIT_FAILED


def _wait(ctx: Context, job_id: str, deadline: Deadline) -> BatchJob:
    jobs = ctx.registry.batch_jobs
    try:
        while True:
            job = jobs.find(job_id)
            if job is not None and job.status != "RUNNING":
                return job
            if deadline.passed():
                raise CliError(
                    f"Batch job {job_id} did not end within {deadline.timeout_s:g}s; it goes on: "
                    f"`mlops batch show {job_id}`.",
                    EXIT_TIMEOUT,
                )
            deadline.pause()
    except KeyboardInterrupt:
        raise CliError(
            f"Stopped waiting; batch job {job_id} goes on: `mlops batch show {job_id}`.", EXIT_INTERRUPTED
        ) from None


def _table_row(j: BatchJob) -> tuple[object, ...]:
    return (
        j.job_id,
        j.model,
        f"v{j.version}" if j.version else None,
        j.status,
        j.rows_in,
        j.rows_out,
        j.rows_failed,
        j.output_uri,
        j.created_at,
    )


def run_list(args: argparse.Namespace, ctx: Context) -> int:
    jobs = ctx.registry.batch_jobs.recent(limit=args.limit)
    headers = ("JOB", "MODEL", "VERSION", "STATUS", "ROWS_IN", "ROWS_OUT", "ROWS_FAILED", "OUTPUT", "STARTED")
    ctx.say(render.listing(jobs, args.json, job_row, headers, _table_row, empty="No batch jobs yet."))
    return EXIT_OK


def _show(ctx: Context, job: BatchJob, as_json: bool) -> None:
    if as_json:
        ctx.say(render.to_json({**job.model_dump(mode="json"), "output": job.output_uri}))
        return
    took = (job.ended_at - job.created_at).total_seconds() if job.ended_at else None
    ctx.say(
        render.fields(
            [
                ("job", job.job_id),
                ("model", f"{job.model} v{job.version}" if job.version else job.model),
                ("model sha256", render.short_sha(job.model_sha256)),
                ("status", job.status),
                ("error", job.error),
                ("input", f"{job.input.uri} ({render.plural(len(job.inputs), 'object')}, {job.format})"),
                ("output", job.output_uri),
                ("rows", f"{job.rows_in} in, {job.rows_out} scored, {job.rows_failed} failed"),
                ("parts", f"{job.parts} ({job.parts_failed} failed)"),
                ("errors files", ", ".join(job.error_files) or None),
                ("started", render.timestamp(job.created_at)),
                ("took", render.duration(took) if took is not None else None),
            ],
            indent="",
        )
    )
    for reason, count in sorted(job.failure_reasons.items(), key=lambda item: -item[1]):
        ctx.say(f"  {count} rows: {reason}")


def run_show(args: argparse.Namespace, ctx: Context) -> int:
    _show(ctx, ctx.registry.batch_jobs.get(args.job_id), args.json)
    return EXIT_OK
