"""The SageMaker training backend: the same ``train()`` as a training job, for data past a Lambda.

``start`` creates the job (idempotent: the job name derives from the run) on the dataset version's
canonical Parquet; the state machine waits and calls ``poll`` until the job ends; a completed job's
``model.tar.gz`` holds the three files ``mlops.ml.artifacts`` reads, registered like inline training.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from pathlib import Path

from botocore.exceptions import ClientError

from mlops import aws
from mlops.config import DatasetConfig
from mlops.errors import ConfigError, TrainingFailed
from mlops.models import ArtifactRef
from mlops.pipeline.deps import Deps
from mlops.pipeline.payload import RunPayload, TrainingOutcome
from mlops.settings import TrainingSettings

HYPERPARAMETER_LIMIT = 2500  # SageMaker's limit on one hyperparameter value


def job_name(run_id: str) -> str:
    """1-63 characters of [a-zA-Z0-9-], unique per run."""
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:10]
    stem = "".join(c if c.isalnum() else "-" for c in run_id)[:45].strip("-")
    return f"mlops-{stem}-{digest}"


def start(
    deps: Deps, payload: RunPayload, config: DatasetConfig, settings: TrainingSettings, data: ArtifactRef
) -> TrainingOutcome:
    assert payload.validation is not None
    if not (settings.sagemaker_image_uri and settings.sagemaker_role_arn):
        raise ConfigError("The sagemaker backend needs SAGEMAKER_IMAGE_URI and SAGEMAKER_ROLE_ARN.")
    hyperparameters = {
        "config": config.model_dump_json(),
        "feature_columns": json.dumps(payload.validation.feature_columns),
    }
    for key, value in hyperparameters.items():
        if len(value) > HYPERPARAMETER_LIMIT:
            raise ConfigError(
                f"The {key} hyperparameter is {len(value)} characters; SageMaker takes {HYPERPARAMETER_LIMIT}."
            )
    name = job_name(payload.run_id)
    prefix = data.key.rsplit("/", 1)[0] + "/"
    try:
        aws.sagemaker().create_training_job(
            TrainingJobName=name,
            RoleArn=settings.sagemaker_role_arn,
            AlgorithmSpecification={
                "TrainingImage": settings.sagemaker_image_uri,
                "TrainingInputMode": "File",
                "ContainerEntrypoint": ["python", "-m", "mlops.ml.sagemaker_entry"],
            },
            HyperParameters=hyperparameters,
            InputDataConfig=[
                {
                    "ChannelName": "train",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": f"s3://{data.bucket}/{prefix}",
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                    "ContentType": "application/x-parquet",
                }
            ],
            OutputDataConfig={"S3OutputPath": f"s3://{deps.artifact_bucket}/sagemaker/{payload.dataset}/"},
            ResourceConfig={  # type: ignore[misc,arg-type]
                "InstanceType": settings.sagemaker_instance_type,
                "InstanceCount": 1,
                "VolumeSizeInGB": 30,
            },
            StoppingCondition={"MaxRuntimeInSeconds": settings.sagemaker_max_runtime_s},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in {"ResourceInUse", "ValidationException"}:
            raise
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
    from mlops.ml import dataset as ds
    from mlops.ml.artifacts import read_training_output
    from mlops.pipeline.train import register_candidate

    assert payload.training is not None and payload.training.job_name
    name = payload.training.job_name
    job = aws.sagemaker().describe_training_job(TrainingJobName=name)
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
    frame = ds.read_parquet_bytes(deps.storage.get_verified(version.canonical))
    model = register_candidate(deps, payload, config, trained, frame)
    return TrainingOutcome(
        status="Completed",
        backend="sagemaker",
        job_name=name,
        model_version=model.version,
        metrics=model.metrics,
    )
