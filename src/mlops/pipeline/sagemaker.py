"""The SageMaker training backend: the same ``train()`` as a training job, for data past a Lambda.

``start`` creates the job on the dataset version's canonical Parquet; the state machine waits and calls
``poll`` until the job ends; a completed job's ``model.tar.gz`` holds the three files
``mlops.ml.artifacts`` reads, registered like inline training.

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from mlops import aws
from mlops.config import DatasetConfig
from mlops.errors import ConfigError, TrainingFailed
from mlops.models import ArtifactRef
from mlops.pipeline.deps import Deps
from mlops.pipeline.jobs import job_name
from mlops.pipeline.payload import RunPayload, TrainingOutcome
from mlops.settings import TrainingSettings

HYPERPARAMETER_LIMIT = 2500  # SageMaker's limit on one hyperparameter value
# The job runs the ML image (FROM public.ecr.aws/lambda/python:3.12) with its own entrypoint instead of
# the Lambda one. The interpreter by absolute path: the base image puts /var/lang/bin first on PATH and
# installs python3.12 there, but whether a bare ``python`` exists is the image's detail, not a contract.
# layers/ml/Dockerfile runs this exact command at build time, so an image without it does not build.
ENTRYPOINT = ("/var/lang/bin/python3.12", "-m", "mlops.ml.sagemaker_entry")


def output_path(deps: Deps, payload: RunPayload) -> str:
    """Where this run's job writes: the stack's artifact bucket, under the run."""
    return f"s3://{deps.artifact_bucket}/sagemaker/{payload.dataset}/{payload.run_id}/"


def check_job_is_this_runs(job: Mapping[str, Any], deps: Deps, payload: RunPayload, role_arn: str) -> None:
    """Refuse a job of another stage, stack or run that happens to have the name."""
    found_output = str(job.get("OutputDataConfig", {}).get("S3OutputPath", "")).rstrip("/") + "/"
    if found_output != output_path(deps, payload) or job.get("RoleArn") != role_arn:
        raise TrainingFailed(
            f"The SageMaker training job {job.get('TrainingJobName')} belongs to another stack or run "
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
    name = job_name(settings.stage_name, deps.registry.get_run(payload.run_id))
    prefix = data.key.rsplit("/", 1)[0] + "/"
    try:
        aws.sagemaker().create_training_job(
            **job_request(
                name,
                settings.sagemaker_role_arn,
                settings.sagemaker_image_uri,
                hyperparameters,
                data_uri=f"s3://{data.bucket}/{prefix}",
                output_uri=output_path(deps, payload),
                instance_type=settings.sagemaker_instance_type,
                max_runtime_s=settings.sagemaker_max_runtime_s,
            )
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in {"ResourceInUse", "ValidationException"}:
            raise
        # A retried invocation finds the job it created; anything else under the name is refused, and
        # a request refused for another reason keeps its own error.
        try:
            job = aws.sagemaker().describe_training_job(TrainingJobName=name)
        except ClientError:
            raise error from None
        check_job_is_this_runs(job, deps, payload, settings.sagemaker_role_arn)
    return TrainingOutcome(status="InProgress", backend="sagemaker", job_name=name)


def _refuse_replaced(deps: Deps, bucket: str, key: str) -> None:
    """The job writes its archive once into the versioned artifacts bucket: a second version means
    someone replaced it, and its pickle is not ours to load."""
    listing = deps.storage.s3.list_object_versions(Bucket=bucket, Prefix=key)
    versions = [v for v in listing.get("Versions", []) if v.get("Key") == key]
    if len(versions) > 1:
        raise TrainingFailed(
            f"s3://{bucket}/{key} was replaced after the training job wrote it; it is not loaded."
        )


def poll(
    deps: Deps, payload: RunPayload, config: DatasetConfig, settings: TrainingSettings
) -> TrainingOutcome:
    from mlops.ml.artifacts import read_training_output
    from mlops.ml.sampling import BASELINE_ROWS, read_parquet_sample
    from mlops.pipeline.train import register_candidate, training_frame

    assert payload.training is not None and payload.training.job_name
    name = payload.training.job_name
    job = aws.sagemaker().describe_training_job(TrainingJobName=name)
    check_job_is_this_runs(job, deps, payload, settings.sagemaker_role_arn)
    status = job["TrainingJobStatus"]
    if status in ("InProgress", "Stopping"):
        return TrainingOutcome(status="InProgress", backend="sagemaker", job_name=name)
    if status != "Completed":
        reason = job.get("FailureReason") or f"The SageMaker training job {name} ended {status}."
        raise TrainingFailed(reason)
    uri = job["ModelArtifacts"]["S3ModelArtifacts"]
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    _refuse_replaced(deps, bucket, key)
    archive = deps.storage.get(bucket, key)
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(tmp, filter="data")
        trained = read_training_output(Path(tmp))
    version = deps.registry.get_dataset_version(payload.dataset, payload.dataset_version)
    # The rows only feed the drift baseline, which profiles a bounded sample: read just that sample.
    sample = read_parquet_sample(deps.storage.get_verified(version.canonical), BASELINE_ROWS)
    frame = training_frame(sample, config)
    model = register_candidate(deps, payload, config, trained, frame)
    return TrainingOutcome(
        status="Completed",
        backend="sagemaker",
        job_name=name,
        model_version=model.version,
        metrics=model.metrics,
    )
