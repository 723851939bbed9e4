"""SageMaker Processing jobs that really run, on the embedded stack.

moto records a processing job and reports it ``Completed`` at once, running nothing. Here a job
created in moto runs as SageMaker runs it, the way ``mlops.local.sagemaker`` runs training jobs:

- each ``ProcessingInputs[].S3Input`` (``S3Prefix``, File mode) is downloaded into its ``LocalPath``,
  and each ``ProcessingOutputConfig.Outputs[].S3Output.LocalPath`` is created, with ``/opt/ml/`` mapped
  to the job's own temporary directory; arguments of ``AppSpecification.ContainerArguments`` under
  ``/opt/ml/`` are mapped the same way;
- the container entry point (``python -m module``) runs in a child process with this interpreter;
- each output directory is uploaded to its ``S3Uri`` when the process exits 0 (``EndOfJob``);
- ``DescribeProcessingJob`` reports ``InProgress``, then ``Completed``, ``Failed`` with the
  ``FailureReason`` SageMaker gives a container that exits non-zero (``AlgorithmError: See job logs for
  more information``, or ``ClientError: ...`` when an input cannot be read), or ``Stopped`` (after
  ``StopProcessingJob``, or past ``StoppingCondition.MaxRuntimeInSeconds``); ``ExitMessage`` is the
  first KB of ``/opt/ml/output/message``;
- the process's output goes to CloudWatch Logs, group ``/aws/sagemaker/ProcessingJobs``, stream
  ``<job>/algo-1-<epoch seconds>``.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from boto3.s3.transfer import S3Transfer

from mlops import aws
from mlops.local.sagemaker import (
    JobFailed,
    LocalJob,
    download_prefix,
    entrypoint_command,
    keep_logs,
    now,
    run_process,
)
from mlops.observability import logger

PROCESSING_LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
CONTAINER_ROOT = "/opt/ml/"
EXIT_MESSAGE = "output/message"
EXIT_MESSAGE_BYTES = 1024
ALGORITHM_ERROR = "AlgorithmError: See job logs for more information"

_originals: dict[str, Any] = {}
_jobs: dict[str, LocalJob] = {}
_lock = threading.Lock()


def install() -> None:
    """Run every processing job created in moto from now on; undone by ``uninstall``."""
    from moto.sagemaker.models import SageMakerModelBackend

    if _originals:
        return
    _originals["create"] = SageMakerModelBackend.create_processing_job
    _originals["stop"] = SageMakerModelBackend.stop_processing_job

    def create_processing_job(self: Any, *args: Any, **kwargs: Any) -> Any:
        record = _originals["create"](self, *args, **kwargs)
        start(record)
        return record

    def stop_processing_job(self: Any, processing_job_name: str) -> None:
        with _lock:
            job = _jobs.get(processing_job_name)
        if job is None:  # unknown (moto raises SageMaker's error) or already ended (nothing to stop)
            if processing_job_name not in self.processing_jobs:
                _originals["stop"](self, processing_job_name)
            return
        job.record.processing_job_status = "Stopping"
        _stop(job)

    SageMakerModelBackend.create_processing_job = create_processing_job  # type: ignore[method-assign]
    SageMakerModelBackend.stop_processing_job = stop_processing_job  # type: ignore[method-assign]


def uninstall() -> None:
    """Stop the jobs still running and give moto its own behaviour back."""
    from moto.sagemaker.models import SageMakerModelBackend

    with _lock:
        running = list(_jobs.values())
    for job in running:
        _stop(job)
    for job in running:
        if job.thread is not None:
            job.thread.join(timeout=20)
    if _originals:
        SageMakerModelBackend.create_processing_job = _originals.pop("create")  # type: ignore[method-assign]
        SageMakerModelBackend.stop_processing_job = _originals.pop("stop")  # type: ignore[method-assign]


def _stop(job: LocalJob) -> None:
    job.stopping.set()
    if job.process is not None and job.process.poll() is None:
        job.process.terminate()


def start(record: Any) -> LocalJob:
    """Mark moto's job InProgress and run it on a thread of its own."""
    record.processing_job_status = "InProgress"
    record.processing_start_time = now()
    record.processing_end_time = None
    record.failure_reason = None
    record.exit_message = None
    job = LocalJob(record=record)
    name = record.processing_job_name
    job.thread = threading.Thread(target=_run, args=(job,), name=f"sagemaker-processing-{name}")
    with _lock:
        _jobs[name] = job
    job.thread.start()
    return job


def _run(job: LocalJob) -> None:
    record = job.record
    name = record.processing_job_name
    ending: tuple[str, str | None, str | None]
    log_lines: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix=f"sagemaker-{name}-") as root:
            ending, log_lines = _work(job, Path(root))
    except JobFailed as failed:
        ending = ("Failed", str(failed), None)
    except Exception as error:  # the emulation itself failed: the job must still end, and say why
        logger.exception("The local SageMaker processing job failed", extra={"job": name})
        ending = ("Failed", f"InternalServerError: {type(error).__name__}: {error}", None)
    keep_logs(PROCESSING_LOG_GROUP, name, log_lines)  # first: whoever sees the job end finds them
    status, failure_reason, exit_message = ending
    if job.stopping.is_set():
        status, failure_reason = "Stopped", None
    record.failure_reason = failure_reason
    record.exit_message = exit_message
    record.processing_end_time = now()
    record.last_modified_time = record.processing_end_time
    record.processing_job_status = status
    with _lock:
        if _jobs.get(name) is job:
            del _jobs[name]


def container_path(root: Path, path: str) -> Path:
    """A path of the container (``/opt/ml/...``) in the job's directory."""
    if not path.startswith(CONTAINER_ROOT):
        raise JobFailed(f"ClientError: {path} is not under {CONTAINER_ROOT}.")
    return root / path[len(CONTAINER_ROOT) :]


def _work(job: LocalJob, root: Path) -> tuple[tuple[str, str | None, str | None], list[str]]:
    """Download, run, upload: the job's ending (status, failure reason, exit message) and output."""
    record = job.record
    for item in record.processing_inputs or []:
        s3_input = item.get("S3Input")
        if not s3_input:
            raise JobFailed(
                f"ClientError: The embedded stack runs S3 inputs only, not {item.get('InputName')}."
            )
        download_prefix(str(s3_input["S3Uri"]), container_path(root, s3_input["LocalPath"]))
    outputs = [o["S3Output"] for o in (record.processing_output_config or {}).get("Outputs", [])]
    for output in outputs:
        container_path(root, output["LocalPath"]).mkdir(parents=True, exist_ok=True)
    spec = record.app_specification or {}
    arguments = [
        str(container_path(root, a)) if a.startswith(CONTAINER_ROOT) else a
        for a in spec.get("ContainerArguments", [])
    ]
    command = entrypoint_command(spec.get("ContainerEntrypoint"), arguments)
    code, lines = run_process(job, command, dict(os.environ), root, record.stopping_condition)
    message_file = root / EXIT_MESSAGE
    message = (
        message_file.read_bytes()[:EXIT_MESSAGE_BYTES].decode(errors="replace")
        if message_file.is_file()
        else None
    )
    if code is None:
        return ("Stopped", None, message), lines
    if code != 0:
        return ("Failed", ALGORITHM_ERROR, message), lines
    for output in outputs:
        _upload_directory(container_path(root, output["LocalPath"]), str(output["S3Uri"]))
    return ("Completed", None, message), lines


def _upload_directory(directory: Path, uri: str) -> None:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    prefix = prefix.rstrip("/")
    s3 = aws.s3()
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            key = f"{prefix}/{path.relative_to(directory)}" if prefix else str(path.relative_to(directory))
            S3Transfer(s3).upload_file(str(path), bucket, key)
