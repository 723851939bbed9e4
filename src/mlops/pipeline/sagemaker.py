"""The SageMaker training backend: the same ``train()`` as a training job, for data past a Lambda.

``start`` creates the job on the dataset version's canonical Parquet; the state machine waits and calls
``poll`` until the job ends; a completed job's ``model.tar.gz`` holds the three files
``mlops.ml.artifacts`` reads, and ``poll`` returns them as the trained model, which the training stage
registers like an inline one. SageMaker itself is reached through ``deps.training_jobs``.

Job names are unique per account and region for ever, and a run id recurs (the same upload to another
stage, or again after a redeploy). So a job's name holds the stage and a digest of the run's id and
start time, which one run keeps across retries and no other run has; and a job found under that name
is used only when it writes to this run's output path with this stack's role.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.artifact_keys import training_output_prefix
from mlops.config import DatasetConfig
from mlops.entities import ArtifactRef
from mlops.errors import ConfigError, TrainingFailed
from mlops.pipeline.deps import Deps
from mlops.pipeline.jobs import job_name
from mlops.pipeline.payload import RunPayload, TrainingOutcome
from mlops.settings import TrainingSettings
from mlops.training_jobs import TrainingJob

if TYPE_CHECKING:
    from mlops.ml.training import TrainedModel

HYPERPARAMETER_LIMIT = 2500  # SageMaker's limit on one hyperparameter value
# The job runs the ML image (FROM public.ecr.aws/lambda/python:3.12) with its own entrypoint instead of
# the Lambda one. The interpreter by absolute path: the base image puts /var/lang/bin first on PATH and
# installs python3.12 there, but whether a bare ``python`` exists is the image's detail, not a contract.
# layers/ml/Dockerfile runs this exact command at build time, so an image without it does not build.
ENTRYPOINT = ("/var/lang/bin/python3.12", "-m", "mlops.ml.sagemaker_entry")

# The general-purpose sizes ``training_instance: auto`` moves up through, with their memory in GiB.
TRAINING_INSTANCES: tuple[tuple[str, int], ...] = (
    ("ml.m5.large", 8),
    ("ml.m5.xlarge", 16),
    ("ml.m5.2xlarge", 32),
    ("ml.m5.4xlarge", 64),
    ("ml.m5.12xlarge", 192),
    ("ml.m5.24xlarge", 384),
)
# The entry point's resident memory at its peak (the fit), per cell (row x column) of the table and
# fixed, with headroom over what was measured on mixed numeric and text columns (docs/performance.md,
# "Training job memory"); a job may use this share of the instance's memory.
TRAINING_BYTES_PER_CELL = 64
TRAINING_BASE_BYTES = 512 * 1024**2
TRAINING_MEMORY_SHARE = 0.85


def training_instance(configured: str, floor: str, rows: int, columns: int) -> str:
    """The training job's instance type: ``configured`` as it is, or for ``auto`` the smallest ml.m5
    size from ``floor`` up (the stack's ``SAGEMAKER_INSTANCE_TYPE``) that holds the table's fit.

    A floor outside the ml.m5 sizes is used as it is. A table no size holds fails the run before any
    job starts, with the memory it needs.
    """
    if configured != "auto":
        return configured
    sizes = [name for name, _ in TRAINING_INSTANCES]
    if floor not in sizes:
        return floor
    needed = TRAINING_BASE_BYTES + rows * columns * TRAINING_BYTES_PER_CELL
    for name, gib in TRAINING_INSTANCES[sizes.index(floor) :]:
        if needed <= gib * 1024**3 * TRAINING_MEMORY_SHARE:
            return name
    largest, gib = TRAINING_INSTANCES[-1]
    raise TrainingFailed(
        f"Training on {rows:,} rows x {columns} columns needs about {needed / 1024**3:.0f} GiB of memory, "
        f"more than the largest instance training_instance: auto uses ({largest}, {gib} GiB); "
        "name a bigger type in training_instance or upload a sample."
    )


def output_path(deps: Deps, payload: RunPayload) -> str:
    """Where this run's job writes: the stack's artifact bucket, under the run."""
    return f"s3://{deps.artifact_bucket}/{training_output_prefix(payload.dataset, payload.run_id)}"


def check_job_is_this_runs(job: TrainingJob, deps: Deps, payload: RunPayload, role_arn: str) -> None:
    """Refuse a job of another stage, stack or run that happens to have the name."""
    found_output = job.output_path.rstrip("/") + "/"
    if found_output != output_path(deps, payload) or job.role_arn != role_arn:
        raise TrainingFailed(
            f"The SageMaker training job {job.name} belongs to another stack or run "
            f"(it writes to {found_output}), so run {payload.run_id} cannot use it."
        )


def job_request(
    name: str,
    role_arn: str,
    image_uri: str,
    hyperparameters: dict[str, str],
    data_uri: str,
    output_uri: str,
    instance_type: str,
    max_runtime_s: int,
) -> dict[str, Any]:
    """``CreateTrainingJob``'s arguments: the ML image's entry point on the Parquet under ``data_uri``."""
    return {
        "TrainingJobName": name,
        "RoleArn": role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": image_uri,
            "TrainingInputMode": "File",
            "ContainerEntrypoint": list(ENTRYPOINT),
        },
        "HyperParameters": hyperparameters,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": data_uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "application/x-parquet",
            }
        ],
        "OutputDataConfig": {"S3OutputPath": output_uri},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime_s},
    }


def start(
    deps: Deps, payload: RunPayload, config: DatasetConfig, settings: TrainingSettings, data: ArtifactRef
) -> TrainingOutcome:
    assert payload.validation is not None
    if not (settings.sagemaker_image_uri and settings.sagemaker_role_arn):
        raise ConfigError("The sagemaker backend needs SAGEMAKER_IMAGE_URI and SAGEMAKER_ROLE_ARN.")
    hyperparameters = {
        # Only what differs from the defaults: the config grows, SageMaker's limit per value does not.
        "config": config.model_dump_json(exclude_defaults=True),
        "feature_columns": json.dumps(payload.validation.feature_columns),
    }
    for key, value in hyperparameters.items():
        if len(value) > HYPERPARAMETER_LIMIT:
            raise ConfigError(
                f"The {key} hyperparameter is {len(value)} characters; SageMaker takes {HYPERPARAMETER_LIMIT}."
            )
    name = job_name(settings.stage_name, deps.registry.runs.get_run(payload.run_id))
    prefix = data.key.rsplit("/", 1)[0] + "/"
    request = job_request(
        name,
        settings.sagemaker_role_arn,
        settings.sagemaker_image_uri,
        hyperparameters,
        data_uri=f"s3://{data.bucket}/{prefix}",
        output_uri=output_path(deps, payload),
        instance_type=training_instance(
            config.training_instance,
            settings.sagemaker_instance_type,
            rows=payload.validation.rows,
            columns=len(payload.validation.feature_columns) + 1,  # the target too
        ),
        max_runtime_s=settings.sagemaker_max_runtime_s,
    )
    # A job already under the name is the one a retried invocation created: used only if it is this
    # run's. A request SageMaker refuses (bad role, instance type, hyperparameter) fails the run with
    # SageMaker's reason (the adapter's BadRequest).
    if not deps.training_jobs.create(request):
        check_job_is_this_runs(deps.training_jobs.describe(name), deps, payload, settings.sagemaker_role_arn)
    return TrainingOutcome(status="InProgress", backend="sagemaker", job_name=name)


def _refuse_replaced(deps: Deps, bucket: str, key: str) -> None:
    """The job writes its archive once into the versioned artifacts bucket: a second version means
    someone replaced it, and its pickle is not ours to load."""
    if deps.storage.version_count(bucket, key) > 1:
        raise TrainingFailed(
            f"s3://{bucket}/{key} was replaced after the training job wrote it; it is not loaded."
        )


def poll(deps: Deps, payload: RunPayload, settings: TrainingSettings) -> TrainedModel | None:
    """The trained model once the run's job completed, None while it runs; a job that failed or
    stopped fails the run with SageMaker's reason."""
    from mlops.ml.artifacts import read_training_output

    assert payload.training is not None and payload.training.job_name
    name = payload.training.job_name
    job = deps.training_jobs.describe(name)
    check_job_is_this_runs(job, deps, payload, settings.sagemaker_role_arn)
    if job.status in ("InProgress", "Stopping"):
        return None
    if job.status != "Completed" or job.model_uri is None:
        raise TrainingFailed(job.failure_reason or f"The SageMaker training job {name} ended {job.status}.")
    bucket, key = job.model_uri.removeprefix("s3://").split("/", 1)
    _refuse_replaced(deps, bucket, key)
    archive = deps.storage.get(bucket, key)
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(tmp, filter="data")
        return read_training_output(Path(tmp))
