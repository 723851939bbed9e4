"""The SageMaker backend: the training function starts a job, the state machine polls, the job's
model.tar.gz (made here by running the real entry point on the job's directory layout) is registered."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from mlops import aws
from mlops.config import DatasetConfig
from mlops.local.stack import EmbeddedStack
from mlops.ml.sagemaker_entry import JobPaths, run
from mlops.registry import Registry
from tests.unit.functions.conftest import ingest_iris, run_through


def _run_job_locally(job: dict[str, object], tmp: Path) -> bytes:
    """What the training container does with the job's inputs: returns its model.tar.gz."""
    paths = JobPaths(tmp / "train", tmp / "config", tmp / "model", tmp / "output")
    paths.train_dir.mkdir(parents=True)
    paths.config_dir.mkdir(parents=True)
    source = job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]  # type: ignore[index]
    bucket, prefix = str(source).removeprefix("s3://").split("/", 1)
    for obj in aws.s3().list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
        body = aws.s3().get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        (paths.train_dir / Path(obj["Key"]).name).write_bytes(body)
    (paths.config_dir / "hyperparameters.json").write_text(json.dumps(job["HyperParameters"]))
    assert run(paths) == 0
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for file in paths.model_dir.iterdir():
            tar.add(file, arcname=file.name)
    return archive.getvalue()


def test_sagemaker_backend_trains_through_a_training_job(
    stack: EmbeddedStack, registry: Registry, ds: str, tmp_path: Path
) -> None:
    payload = ingest_iris(stack, registry, ds)
    registry.put_config(ds, DatasetConfig(target="species", training_backend="sagemaker"))
    payload = run_through(stack, payload, "validation", "training")
    training = payload["training"]
    assert training["status"] == "InProgress" and training["backend"] == "sagemaker"
    job = aws.sagemaker().describe_training_job(TrainingJobName=training["job_name"])
    assert job["AlgorithmSpecification"]["ContainerEntrypoint"] == [
        "python",
        "-m",
        "mlops.ml.sagemaker_entry",
    ]
    model_uri = job["ModelArtifacts"]["S3ModelArtifacts"]
    bucket, key = model_uri.removeprefix("s3://").split("/", 1)
    aws.s3().put_object(Bucket=bucket, Key=key, Body=_run_job_locally(dict(job), tmp_path))
    # The state machine's CheckTraining state invokes the same function again.
    payload = run_through(stack, payload, "training", "conversion", "promotion")
    assert payload["training"]["status"] == "Completed" and payload["training"]["model_version"] == 1
    assert payload["promotion"]["promoted"]
    stage = registry.get_stage(payload["run_id"], "training")
    assert stage is not None and stage.status == "SUCCEEDED" and stage.summary["backend"] == "sagemaker"
