"""SageMaker training jobs that really run, on the embedded stack (processing jobs: ``mlops.local.processing``).

moto records a training job and reports it ``Completed`` at once, running nothing, so a table past
``INLINE_MAX_ROWS`` failed locally when its run looked for the model the job never wrote. Here a job
created in moto runs as SageMaker runs it:

- its container entry point (``AlgorithmSpecification.ContainerEntrypoint``, the project's
  ``python -m mlops.ml.sagemaker_entry``) runs in a child process with this interpreter, since the
  image's interpreter is this installation's;
- each input channel's S3 prefix is downloaded into ``input/data/<channel>/`` and the hyperparameters
  written to ``input/config/hyperparameters.json`` under the job's own directory, which the child
  finds through the ``SM_*`` variables the SageMaker training toolkit sets;
- ``model/`` is uploaded as ``<S3OutputPath>/<job>/output/model.tar.gz`` once the process exits 0;
- ``DescribeTrainingJob`` reports ``InProgress`` (secondary status Downloading, Training, Uploading)
  until then, ``Completed``, or ``Failed`` with the ``FailureReason`` SageMaker gives: the job's
  ``output/failure`` file as ``AlgorithmError: ...``, or ``ClientError: ...`` when its data cannot be
  read; ``Stopped`` (``MaxRuntimeExceeded``) past ``StoppingCondition.MaxRuntimeInSeconds``;
- ``CreateTrainingJob`` refuses what SageMaker refuses and moto takes: a name already used
  (``ResourceInUse``; moto would replace the job), and an instance type, role ARN or hyperparameter
  value outside the API's constraints (``ValidationException`` worded as AWS words it);
- the process's output goes to CloudWatch Logs, group ``/aws/sagemaker/TrainingJobs``, stream
  ``<job>/algo-1-<epoch seconds>``, as SageMaker names it.

The child's memory is its own, as a training instance's is: the stack's process does not grow with it.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boto3.s3.transfer import S3Transfer

from mlops import aws
from mlops.observability import logger

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
LOG_BATCH_LINES = 1000  # well under PutLogEvents' 10,000 events and 1 MiB per call
LOG_LINE_CHARS = 16_000
STOP_GRACE_S = 5.0

_original_create: Any = None
_jobs: dict[str, LocalJob] = {}
_lock = threading.Lock()


@dataclass
class LocalJob:
    """One running job: moto's record of it, and the thread and process that do its work."""

    record: Any  # moto's FakeTrainingJob; its attributes are what DescribeTrainingJob returns
    thread: threading.Thread | None = None
    process: subprocess.Popen[bytes] | None = None
    stopping: threading.Event = field(default_factory=threading.Event)


def install() -> None:
    """Run every training job created in moto from now on; undone by ``uninstall``."""
    global _original_create
    from moto.sagemaker.models import SageMakerModelBackend

    if _original_create is not None:
        return
    from mlops.local import processing  # its jobs run the same way (it imports this module)

    _original_create = SageMakerModelBackend.create_training_job

    def create_training_job(self: Any, *args: Any, **kwargs: Any) -> Any:
        request = inspect.signature(_original_create).bind(self, *args, **kwargs).arguments
        refuse_as_sagemaker_does(self, request)
        record = _original_create(self, *args, **kwargs)
        start(record)
        return record

    SageMakerModelBackend.create_training_job = create_training_job  # type: ignore[method-assign]
    processing.install()


def refuse_as_sagemaker_does(backend: Any, request: dict[str, Any]) -> None:
    """Raise what SageMaker answers a ``CreateTrainingJob`` it refuses (moto's own exceptions, so the
    client sees SageMaker's error codes)."""
    from moto.sagemaker.exceptions import ResourceInUseException, ValidationError

    name = request["training_job_name"]
    if name in backend.training_jobs:
        raise ResourceInUseException(
            f"Training job names must be unique within an AWS account and region, and a training job "
            f"with this name already exists ({backend.training_jobs[name].arn})"
        )
    problems = _constraint_violations(request)
    if problems:
        count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''} detected"
        raise ValidationError(message=f"{count}: {'; '.join(problems)}")


def _constraint_violations(request: dict[str, Any]) -> list[str]:
    """The request's values outside the constraints of SageMaker's API model, in AWS's words."""
    import botocore.session
    from botocore.model import MapShape, StringShape

    model = botocore.session.get_session().get_service_model("sagemaker")
    instance_types, hyperparameters = (
        model.shape_for("TrainingInstanceType"),
        model.shape_for("HyperParameters"),
    )
    assert isinstance(instance_types, StringShape) and isinstance(hyperparameters, MapShape)
    problems = []
    instance_type = (request.get("resource_config") or {}).get("InstanceType")
    allowed = instance_types.enum
    if instance_type is not None and instance_type not in allowed:
        problems.append(
            f"Value '{instance_type}' at 'resourceConfig.instanceType' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(allowed)}]"
        )
    role = request.get("role_arn") or ""
    pattern = model.shape_for("RoleArn").metadata["pattern"]
    if not re.fullmatch(pattern, role):
        problems.append(
            f"Value '{role}' at 'roleArn' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern}"
        )
    limit = hyperparameters.value.metadata["max"]
    for key, value in (request.get("hyper_parameters") or {}).items():
        if len(value) > limit:
            problems.append(
                f"Value at 'hyperParameters' failed to satisfy constraint: Map value must satisfy "
                f"constraint: [Member must have length less than or equal to {limit}] (key {key})"
            )
    return problems


def uninstall() -> None:
    """Stop the jobs still running (their processes end) and give moto its own behaviour back."""
    global _original_create
    from moto.sagemaker.models import SageMakerModelBackend

    from mlops.local import processing

    processing.uninstall()
    with _lock:
        running = list(_jobs.values())
    for job in running:
        job.stopping.set()
        if job.process is not None and job.process.poll() is None:
            job.process.terminate()
    for job in running:
        if job.thread is not None:
            job.thread.join(timeout=STOP_GRACE_S * 4)
    if _original_create is not None:
        SageMakerModelBackend.create_training_job = _original_create  # type: ignore[method-assign]
        _original_create = None


def start(record: Any) -> LocalJob:
    """Mark moto's job InProgress and run it on a thread of its own."""
    record.training_job_status = "InProgress"
    record.secondary_status = "Starting"
    record.training_end_time = None
    record.model_artifacts = None  # SageMaker names the archive only once the job has written it
    record.final_metric_data_list = None
    record.secondary_status_transitions = []
    job = LocalJob(record=record)
    job.thread = threading.Thread(target=_run, args=(job,), name=f"sagemaker-{record.training_job_name}")
    with _lock:
        _jobs[record.training_job_name] = job
    job.thread.start()
    return job


def now() -> Any:
    from moto.core.utils import utcnow  # the clock moto stamps its own records with

    return utcnow()


class JobFailed(Exception):
    """The job ends Failed with this ``FailureReason``."""


def _run(job: LocalJob) -> None:
    record = job.record
    name = record.training_job_name
    ending: tuple[str, str, str | None]
    log_lines: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix=f"sagemaker-{name}-") as root:
            ending, log_lines = _work(job, Path(root))
    except JobFailed as failed:
        ending = ("Failed", "Failed", str(failed))
    except Exception as error:  # the emulation itself failed: the job must still end, and say why
        logger.exception("The local SageMaker training job failed", extra={"job": name})
        ending = ("Failed", "Failed", f"InternalServerError: {type(error).__name__}: {error}")
    # Logs first: whoever sees the job end finds its logs, as on SageMaker.
    keep_logs(TRAINING_LOG_GROUP, name, log_lines)
    if not job.stopping.is_set():
        _end(record, *ending)
    with _lock:
        if _jobs.get(name) is job:  # a job created again under the name is another one
            del _jobs[name]


def _work(job: LocalJob, job_dir: Path) -> tuple[tuple[str, str, str | None], list[str]]:
    """Download, train, upload: the job's ending (status, secondary status, failure reason) and output."""
    record = job.record
    _advance(record, "Downloading", "Downloading input data")
    _download_inputs(record, job_dir)
    _advance(record, "Training", "Training in progress")
    code, log_lines = _train(job, job_dir)
    if code is None:
        return ("Stopped", "MaxRuntimeExceeded", None), log_lines
    if code != 0:
        failure = job_dir / "output" / "failure"
        message = failure.read_text().strip() if failure.is_file() else ""
        reason = f"AlgorithmError: {message or f'The training process exited with code {code}.'}"
        return ("Failed", "Failed", reason), log_lines
    _advance(record, "Uploading", "Uploading generated training model")
    record.model_artifacts = {"S3ModelArtifacts": _upload_model(record, job_dir / "model")}
    return ("Completed", "Completed", None), log_lines


def _advance(record: Any, secondary: str, message: str) -> None:
    at = now()
    transitions = record.secondary_status_transitions
    if transitions:
        transitions[-1]["EndTime"] = at
    transitions.append({"Status": secondary, "StartTime": at, "StatusMessage": message})
    record.secondary_status = secondary


def _end(record: Any, status: str, secondary: str, failure_reason: str | None) -> None:
    _advance(record, secondary, failure_reason or status)
    record.secondary_status_transitions[-1]["EndTime"] = now()
    if failure_reason:
        record.failure_reason = failure_reason
    record.training_end_time = now()
    record.training_job_status = status


def _download_inputs(record: Any, job_dir: Path) -> None:
    config_dir = job_dir / "input" / "config"
    config_dir.mkdir(parents=True)
    (config_dir / "hyperparameters.json").write_text(json.dumps(record.hyper_parameters or {}))
    (config_dir / "inputdataconfig.json").write_text(
        json.dumps(
            {c["ChannelName"]: {"ContentType": c.get("ContentType", "")} for c in record.input_data_config}
        )
    )
    for channel in record.input_data_config:
        source = channel["DataSource"]["S3DataSource"]
        download_prefix(str(source["S3Uri"]), job_dir / "input" / "data" / channel["ChannelName"])


def download_prefix(uri: str, target: Path) -> None:
    """Every object under an ``S3Prefix`` input into ``target``, as SageMaker's File mode copies them."""
    from botocore.exceptions import ClientError

    s3 = aws.s3()
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    target.mkdir(parents=True, exist_ok=True)
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
        if not keys:
            raise JobFailed(
                f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source.'
            )
        for key in keys:
            relative = key[len(prefix) :].lstrip("/") or Path(key).name
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            S3Transfer(s3).download_file(bucket, key, str(destination))
    except ClientError as error:
        raise JobFailed(f"ClientError: Data download failed: {error}") from error


def entrypoint_command(entrypoint: list[str] | None, arguments: list[str]) -> list[str]:
    """The container's entry point, with this installation's interpreter for the image's."""
    entrypoint = list(entrypoint or [])
    if len(entrypoint) < 3 or entrypoint[1] != "-m" or "python" not in Path(entrypoint[0]).name:
        raise JobFailed(
            "ClientError: The embedded stack runs only a Python module entry point "
            f"(ContainerEntrypoint [python, -m, module]), not {entrypoint}."
        )
    return [sys.executable, *entrypoint[1:], *arguments]


def _train(job: LocalJob, job_dir: Path) -> tuple[int | None, list[str]]:
    """Run the entry point; its exit code (None when it outran its time limit) and its output lines."""
    record = job.record
    env = {
        **os.environ,
        "SM_INPUT_CONFIG_DIR": str(job_dir / "input" / "config"),
        "SM_MODEL_DIR": str(job_dir / "model"),
        "SM_OUTPUT_DIR": str(job_dir / "output"),
        "SM_OUTPUT_DATA_DIR": str(job_dir / "output" / "data"),
        "TRAINING_JOB_NAME": record.training_job_name,
    }
    for channel in record.input_data_config:
        env[f"SM_CHANNEL_{channel['ChannelName'].upper()}"] = str(
            job_dir / "input" / "data" / channel["ChannelName"]
        )
    (job_dir / "model").mkdir()
    command = entrypoint_command(
        record.algorithm_specification.get("ContainerEntrypoint"),
        record.algorithm_specification.get("ContainerArguments", []),
    )
    return run_process(job, command, env, job_dir, record.stopping_condition)


def run_process(
    job: LocalJob,
    command: list[str],
    env: dict[str, str],
    job_dir: Path,
    stopping_condition: dict[str, Any] | None,
) -> tuple[int | None, list[str]]:
    """Run a job's process in its directory: its exit code (None when it outran
    ``MaxRuntimeInSeconds``) and its output lines."""
    limit = float((stopping_condition or {}).get("MaxRuntimeInSeconds", 86400))
    log_path = job_dir / "output.log"
    with log_path.open("wb") as log:
        job.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=job_dir)
        try:
            code: int | None = job.process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            job.process.terminate()
            try:
                job.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                job.process.kill()
                job.process.wait()
            code = None
    lines = log_path.read_text(errors="replace").splitlines()
    return code, lines


def _upload_model(record: Any, model_dir: Path) -> str:
    output = str(record.output_data_config["S3OutputPath"]).rstrip("/")
    uri = f"{output}/{record.training_job_name}/output/model.tar.gz"
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    archive = model_dir.parent / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(model_dir)), recursive=False)
    S3Transfer(aws.s3()).upload_file(str(archive), bucket, key)
    return uri


def keep_logs(group: str, name: str, lines: list[str]) -> None:
    """The process's output in CloudWatch Logs where SageMaker puts it."""
    from botocore.exceptions import ClientError

    if not lines:
        return
    logs = aws.client("logs")
    stream = f"{name}/algo-1-{int(time.time())}"
    try:
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        now_ms = int(time.time() * 1000)
        for start_line in range(0, len(lines), LOG_BATCH_LINES):
            batch = lines[start_line : start_line + LOG_BATCH_LINES]
            logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=[{"timestamp": now_ms, "message": line[:LOG_LINE_CHARS] or " "} for line in batch],
            )
    except ClientError:
        logger.exception("The local SageMaker job's logs could not be kept", extra={"job": name})
