"""Ingest and validation as a SageMaker Processing job, for uploads past what a function holds in time.

The ingest function starts such an upload's run without reading it (``mlops.pipeline.ingest``); the
state machine's ``Route`` sends the run here. ``start`` writes the job's request (the run's config and
the schema of the dataset's last accepted version) and creates the job: the ML image's
``mlops.ml.processing_entry`` with the raw object and the request as inputs and the dataset version's
files as output. The state machine waits and calls ``poll`` until the job ends; a completed job's
output becomes the dataset version (its canonical Parquet stays where the job wrote it) and the
validation verdict, recorded as the functions record them. A failed job ends the run at stage
``ingest`` with the job's exit message, and refuses the upload.

Job names follow ``mlops.pipeline.sagemaker.job_name`` (stage prefix, run id, digest of its start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops.definition.description import PROCESSING_JOB_PREFIX
from mlops.entities import ArtifactRef, DatasetVersion, RawObject, RawObjectRef
from mlops.errors import ConfigError, IngestRefused
from mlops.pipeline.deps import Deps
from mlops.pipeline.jobs import job_name
from mlops.pipeline.payload import IngestRequest, ProcessingOutcome, RunPayload
from mlops.pipeline.stages import stage
from mlops.pipeline.validate import accepted_schema, record_validation
from mlops.pipeline.versions import record_version
from mlops.settings import ValidationSettings

if TYPE_CHECKING:
    from mlops.processing_jobs import ProcessingJob

ENTRYPOINT = ("/var/lang/bin/python3.12", "-m", "mlops.ml.processing_entry")
ROOT = "/opt/ml/processing"
REQUEST_DIR = f"{ROOT}/input/request"
RAW_DIR = f"{ROOT}/input/raw"
OUTPUT_DIR = f"{ROOT}/output/dataset"
EXIT_MESSAGE = "/opt/ml/output/message"


def job_prefix(payload: RunPayload, name: str) -> str:
    """Where one job's request and output live: the data bucket, beside the dataset's versions."""
    return f"datasets/{payload.dataset}/jobs/{name}/"


def job_request(
    name: str,
    settings: ValidationSettings,
    raw: IngestRequest,
    request_uri: str,
    output_uri: str,
) -> dict[str, Any]:
    """``CreateProcessingJob``'s arguments: the ML image's processing entry point on the raw object."""
    return {
        "ProcessingJobName": name,
        "RoleArn": settings.sagemaker_role_arn,
        "AppSpecification": {
            "ImageUri": settings.sagemaker_image_uri,
            "ContainerEntrypoint": list(ENTRYPOINT),
            "ContainerArguments": [
                "--request",
                f"{REQUEST_DIR}/request.json",
                "--raw",
                RAW_DIR,
                "--output",
                OUTPUT_DIR,
                "--message",
                EXIT_MESSAGE,
            ],
        },
        "ProcessingInputs": [
            _input("request", request_uri, REQUEST_DIR),
            # The raw object by its key: a prefix that is exactly the key, downloaded as its file name.
            _input("raw", f"s3://{raw.bucket}/{raw.key}", RAW_DIR),
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "dataset",
                    "S3Output": {"S3Uri": output_uri, "LocalPath": OUTPUT_DIR, "S3UploadMode": "EndOfJob"},
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": settings.processing_instance_type,
                "VolumeSizeInGB": settings.processing_volume_gb,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.processing_max_runtime_s},
    }


def _input(name: str, uri: str, local_path: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def ingest_and_validate(deps: Deps, payload: RunPayload, settings: ValidationSettings) -> RunPayload:
    """Start the run's processing job, or poll it; the payload with what it finished."""
    assert payload.ingest is not None
    with stage(deps.registry.runs, payload.run_id, "ingest") as log:
        log.summary.update(backend="processing", raw=f"s3://{payload.ingest.bucket}/{payload.ingest.key}")
        if payload.processing is None:
            outcome = start(deps, payload, settings)
        else:
            log.summary["job_name"] = payload.processing.job_name  # a failed poll's record names it too
            outcome, job = poll(deps, payload, settings)
            if outcome.status == "Completed":
                payload = _adopt_version(deps, payload, job)
                log.summary.update(
                    rows=job["rows"], columns=len(job["column_types"]), sha256=payload.dataset_version
                )
        log.summary["job_name"] = outcome.job_name
        if outcome.status == "InProgress":
            log.summary["_in_progress"] = True
    payload = payload.model_copy(update={"processing": outcome})
    if outcome.status == "InProgress":
        return payload
    with stage(deps.registry.runs, payload.run_id, "validation") as log:
        from mlops.ml.validation import ValidationReport

        revision = deps.registry.datasets.config_revision(payload.dataset, payload.config_revision)
        report = ValidationReport.model_validate_json(deps.storage.get_verified(job["report"]))
        log.summary["backend"] = "processing"
        validation = record_validation(deps, payload, revision, report, log)
    return payload.model_copy(update={"validation": validation})


def start(deps: Deps, payload: RunPayload, settings: ValidationSettings) -> ProcessingOutcome:
    from mlops.ml.processing_entry import ProcessingRequest

    assert payload.ingest is not None
    if not (settings.sagemaker_image_uri and settings.sagemaker_role_arn):
        raise ConfigError("Processing jobs need SAGEMAKER_IMAGE_URI and SAGEMAKER_ROLE_ARN.")
    run = deps.registry.runs.get_run(payload.run_id)
    name = job_name(settings.stage_name, run, PROCESSING_JOB_PREFIX)
    prefix = job_prefix(payload, name)
    request = ProcessingRequest(
        raw_file=payload.ingest.key.rsplit("/", 1)[-1],
        max_bytes=payload.ingest.max_bytes,
        config=deps.registry.datasets.config_revision(payload.dataset, payload.config_revision).config,
        previous=accepted_schema(deps, payload.dataset, ""),
    )
    deps.storage.put(
        deps.data_bucket,
        f"{prefix}request/request.json",
        request.model_dump_json().encode(),
        "application/json",
    )
    arguments = job_request(
        name,
        settings,
        payload.ingest,
        request_uri=f"s3://{deps.data_bucket}/{prefix}request/",
        output_uri=f"s3://{deps.data_bucket}/{prefix}output/",
    )
    if not deps.processing_jobs.create(arguments):
        # A retried invocation finds the job it created; anything else under the name is refused.
        _check_job_is_this_runs(deps.processing_jobs.describe(name), arguments)
    return ProcessingOutcome(status="InProgress", job_name=name)


def _check_job_is_this_runs(job: ProcessingJob, arguments: dict[str, Any]) -> None:
    expected = arguments["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    if job.output_uris != [expected] or job.role_arn != arguments["RoleArn"]:
        raise ConfigError(
            f"The SageMaker processing job {job.name} belongs to another stack or run, "
            "so this run cannot use it."
        )


def poll(
    deps: Deps, payload: RunPayload, settings: ValidationSettings
) -> tuple[ProcessingOutcome, dict[str, Any]]:
    """The job's state; once completed, its result (rows, types, the refs of its files)."""
    from mlops.ml.processing_entry import DETAILS_FILE, PARQUET_FILE, REPORT_FILE, ProcessingResult

    assert payload.processing is not None and payload.ingest is not None
    name = payload.processing.job_name
    job = deps.processing_jobs.describe(name)
    status = job.status
    if status in ("InProgress", "Stopping"):
        return ProcessingOutcome(status="InProgress", job_name=name), {}
    if status != "Completed":
        reason = str(job.exit_message or job.failure_reason or "").strip()
        reason = reason or f"The SageMaker processing job {name} ended {status}."
        if status == "Stopped":
            reason = f"The SageMaker processing job {name} was stopped before it ended (MaxRuntimeInSeconds)."
        reason = reason if reason.endswith(".") else f"{reason}."
        refuse_processed(deps, _raw_ref(payload.ingest), payload.dataset, payload.run_id, reason)
        raise IngestRefused(reason)
    prefix = job_prefix(payload, name) + "output/"
    result = ProcessingResult.model_validate_json(deps.storage.get(deps.data_bucket, f"{prefix}result.json"))

    def ref(file: str) -> ArtifactRef:
        key = f"{prefix}{file}"
        head = deps.storage.head(deps.data_bucket, key)
        return ArtifactRef(
            bucket=deps.data_bucket, key=key, sha256=result.files[file], size=head.size if head else 0
        )

    return ProcessingOutcome(status="Completed", job_name=name), {
        "sha256": result.sha256,
        "rows": result.rows,
        "column_types": result.column_types,
        "columns": result.columns,
        "canonical": ref(PARQUET_FILE),
        "details": ref(DETAILS_FILE),
        "report": ref(REPORT_FILE),
    }


def register_version(
    deps: Deps,
    dataset: str,
    sha: str,
    raw: RawObjectRef,
    rows: int,
    column_types: dict[str, str],
    canonical: ArtifactRef,
    details: ArtifactRef,
) -> DatasetVersion:
    """Record a version whose canonical copy and details are already stored (by a processing job);
    the version an earlier upload of the same content made, when there is one."""
    existing = deps.registry.datasets.find_dataset_version(dataset, sha)
    if existing is not None:
        return existing
    stored = (canonical, details)
    return record_version(deps, dataset, sha, raw, rows, list(column_types), column_types, stored)


def refuse_processed(deps: Deps, raw: RawObjectRef, dataset: str, run_id: str, reason: str) -> None:
    """The processing job could not ingest the upload: its raw object is refused with the reason (the
    run itself ends FAILED at stage ingest through the state machine's failure recorder)."""
    deps.registry.datasets.update_raw_object(
        RawObject(dataset=dataset, raw=raw, status="REFUSED", run_id=run_id, reason=reason)
    )


def _raw_ref(ingest: IngestRequest) -> RawObjectRef:
    return RawObjectRef(
        bucket=ingest.bucket, key=ingest.key, etag=ingest.etag, version_id=ingest.version_id, size=ingest.size
    )


def _adopt_version(deps: Deps, payload: RunPayload, job: dict[str, Any]) -> RunPayload:
    """The job's files become the dataset version; the run and its raw object name it."""
    assert payload.ingest is not None
    raw = _raw_ref(payload.ingest)
    column_types = {column: job["column_types"][column] for column in job["columns"]}
    version = register_version(
        deps, payload.dataset, job["sha256"], raw, job["rows"], column_types, job["canonical"], job["details"]
    )
    record = deps.registry.datasets.get_raw_object(payload.dataset, raw.bucket, raw.key, raw.etag)
    if record is not None and record.sha256 != version.sha256:
        deps.registry.datasets.update_raw_object(record.model_copy(update={"sha256": version.sha256}))
    run = deps.registry.runs.get_run(payload.run_id)
    if run.dataset_version != version.sha256:
        deps.registry.runs.save_run(run.model_copy(update={"dataset_version": version.sha256, "stages": []}))
    return payload.model_copy(update={"dataset_version": version.sha256})
