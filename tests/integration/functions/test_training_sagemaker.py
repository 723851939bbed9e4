"""The SageMaker backend: the training function starts a job, the state machine polls, the job's
model.tar.gz (written by the embedded stack's run of the real entry point) is registered.
``_run_job_locally`` runs the entry point by hand, for tests that forge a job's output."""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops import aws
from mlops.config import DatasetConfig
from mlops.definition.description import TRAINING_JOB_PREFIX, project_root
from mlops.entities import Run
from mlops.local.embedded import EmbeddedStack
from mlops.local.resources import LOCAL_STAGE
from mlops.ml.sagemaker_entry import CHECK_ARGUMENTS, JobPaths, main, run
from mlops.pipeline.jobs import JOB_NAME_LIMIT, job_name
from mlops.pipeline.sagemaker import ENTRYPOINT
from mlops.registry import Registry
from tests.integration.functions.conftest import ingest_iris, invoke, iris_frame, run_through

PIPELINE = ("validation", "training", "conversion", "promotion")


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


def ended_job(name: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """The job's description once the embedded stack's run of it has ended."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = dict(aws.sagemaker().describe_training_job(TrainingJobName=name))
        if job["TrainingJobStatus"] != "InProgress":
            return job
        assert time.monotonic() < deadline, f"The training job {name} still runs after {timeout_s}s."
        time.sleep(0.2)


def start_sagemaker_training(stack: EmbeddedStack, registry: Registry, ds: str) -> dict[str, Any]:
    """Ingest iris, configure the SageMaker backend and run up to the training step's job start."""
    payload = ingest_iris(stack, registry, ds)
    registry.datasets.put_config(ds, DatasetConfig(target="species", training_backend="sagemaker"))
    return run_through(stack, payload, "validation", "training")


def test_sagemaker_backend_trains_through_a_training_job(
    stack: EmbeddedStack, registry: Registry, ds: str
) -> None:
    payload = start_sagemaker_training(stack, registry, ds)
    training = payload["training"]
    assert training["status"] == "InProgress" and training["backend"] == "sagemaker"
    assert training["job_name"].startswith(TRAINING_JOB_PREFIX.for_stage(LOCAL_STAGE))
    job = aws.sagemaker().describe_training_job(TrainingJobName=training["job_name"])
    assert job["AlgorithmSpecification"]["ContainerEntrypoint"] == list(ENTRYPOINT)
    assert job["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"  # auto: the stack's size holds iris
    # The embedded stack runs the job's entry point (mlops.local.sagemaker), as SageMaker would.
    assert ended_job(training["job_name"])["TrainingJobStatus"] == "Completed"
    # The state machine's CheckTraining state invokes the same function again.
    payload = run_through(stack, payload, "training", "conversion", "promotion")
    assert payload["training"]["status"] == "Completed" and payload["training"]["model_version"] == 1
    assert payload["promotion"]["promoted"]
    stage = registry.runs.get_stage(payload["run_id"], "training")
    assert stage is not None and stage.status == "SUCCEEDED" and stage.summary["backend"] == "sagemaker"


def test_the_config_names_the_training_instance(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    payload = ingest_iris(stack, registry, ds)
    config = DatasetConfig(target="species", training_backend="sagemaker", training_instance="ml.m5.4xlarge")
    registry.datasets.put_config(ds, config)
    payload = run_through(stack, payload, "validation", "training")
    job = aws.sagemaker().describe_training_job(TrainingJobName=payload["training"]["job_name"])
    assert job["ResourceConfig"]["InstanceType"] == "ml.m5.4xlarge"
    ended_job(payload["training"]["job_name"])


def test_job_names_differ_per_stage_and_per_start_of_a_recurring_run_id() -> None:
    first = Run(run_id="iris-upload-" + "f" * 16, dataset="iris", trigger="upload", dataset_version="f" * 64)
    again = first.model_copy(update={"started_at": first.started_at.replace(year=first.started_at.year + 1)})
    names = {job_name("dev", first), job_name("prod", first), job_name("dev", again)}
    assert len(names) == 3
    assert job_name("dev", first) == job_name("dev", first)  # a retried start finds its own job
    assert job_name("prod", first).startswith(TRAINING_JOB_PREFIX.for_stage("prod"))
    long = first.model_copy(update={"run_id": "a-very-long-dataset-name-" * 5 + "upload"})
    assert len(job_name("prod", long)) <= JOB_NAME_LIMIT


def test_a_job_of_another_stack_under_the_name_is_refused(
    stack: EmbeddedStack, registry: Registry, ds: str
) -> None:
    payload = run_through(stack, ingest_iris(stack, registry, ds), "validation")
    registry.datasets.put_config(ds, DatasetConfig(target="species", training_backend="sagemaker"))
    name = job_name(LOCAL_STAGE, registry.runs.get_run(payload["run_id"]))
    # Another stack's job already holds the name: SageMaker answers this run's create ResourceInUse.
    aws.sagemaker().create_training_job(
        TrainingJobName=name,
        RoleArn="arn:aws:iam::123456789012:role/other-stack-role",
        AlgorithmSpecification={"TrainingImage": "other:latest", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": "s3://other-stack-artifacts/sagemaker/"},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 60},
    )
    started = invoke(stack, "training", payload)
    assert started.failed
    assert "belongs to another stack or run" in started.payload["errorMessage"]
    assert registry.runs.get_run(payload["run_id"]).model_version is None


def test_a_second_create_under_a_name_is_resource_in_use_as_in_sagemaker(
    stack: EmbeddedStack, registry: Registry, ds: str
) -> None:
    payload = run_through(stack, ingest_iris(stack, registry, ds), "validation")
    registry.datasets.put_config(ds, DatasetConfig(target="species", training_backend="sagemaker"))
    started = run_through(stack, payload, "training")
    job = aws.sagemaker().describe_training_job(TrainingJobName=started["training"]["job_name"])
    request = {
        k: job[k] for k in ("TrainingJobName", "RoleArn", "AlgorithmSpecification", "OutputDataConfig")
    }
    request |= {k: job[k] for k in ("ResourceConfig", "StoppingCondition")}
    with pytest.raises(ClientError) as refused:
        aws.sagemaker().create_training_job(**request)
    assert refused.value.response["Error"]["Code"] == "ResourceInUse"
    # A retried start (the same payload again) finds its own job and goes on polling it.
    again = run_through(stack, payload, "training")
    assert again["training"] == started["training"]
    assert ended_job(started["training"]["job_name"])["TrainingJobStatus"] == "Completed"


def test_a_request_sagemaker_refuses_fails_the_run_with_its_reason(
    stack: EmbeddedStack, registry: Registry, ds: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_through(stack, ingest_iris(stack, registry, ds), *PIPELINE)
    assert first["promotion"]["promoted"]
    payload = ingest_iris(stack, registry, ds, frame=iris_frame().iloc[1:])
    registry.datasets.put_config(ds, DatasetConfig(target="species", training_backend="sagemaker"))
    payload = run_through(stack, payload, "validation")
    # The training function's settings name an instance type SageMaker does not offer.
    handler_globals = inspect.unwrap(stack.runtime.handler("training")).__globals__
    settings = handler_globals["settings"]
    monkeypatch.setitem(
        handler_globals, "settings", dataclasses.replace(settings, sagemaker_instance_type="ml.bogus")
    )
    error = invoke(stack, "training", payload)
    assert error.failed and error.payload["errorType"] == "BadRequest"
    message = error.payload["errorMessage"]
    assert message.startswith("SageMaker refused to create training job ")
    assert "Value 'ml.bogus' at 'resourceConfig.instanceType'" in message
    caught = {
        **payload,
        "failed_stage": "training",
        "error": {"Error": error.payload["errorType"], "Cause": json.dumps(error.payload)},
    }
    assert not invoke(stack, "failure", caught).failed
    run = registry.runs.get_run(payload["run_id"])
    assert (run.status, run.failed_stage, run.error) == ("FAILED", "training", message)
    assert run.model_version is None
    alias = registry.models.get_alias(ds)
    assert alias is not None and alias.version == first["promotion"]["model_version"]
    # Fixed settings: the next upload trains as a job and reaches production again.
    monkeypatch.setitem(handler_globals, "settings", settings)
    retried = ingest_iris(stack, registry, ds, frame=iris_frame().iloc[2:])
    registry.datasets.put_config(ds, DatasetConfig(target="species", training_backend="sagemaker"))
    retried = run_through(stack, retried, "validation", "training")
    assert ended_job(retried["training"]["job_name"])["TrainingJobStatus"] == "Completed"
    done = run_through(stack, retried, "training", "conversion", "promotion")
    assert done["training"]["status"] == "Completed" and done["promotion"]["model_version"] is not None


def test_the_image_build_runs_the_sagemaker_entrypoint() -> None:
    dockerfile = (project_root() / "layers" / "ml" / "Dockerfile").read_text()
    assert f"RUN {' '.join(ENTRYPOINT)} {' '.join(CHECK_ARGUMENTS)}" in dockerfile
    interpreter_version = ENTRYPOINT[0].removeprefix("/var/lang/bin/python")
    assert f"FROM public.ecr.aws/lambda/python:{interpreter_version}\n" in dockerfile
    assert main(CHECK_ARGUMENTS) == 0
