"""Pipeline logic on in-memory fakes of its ports: the SageMaker start/poll flow, starting and ending
runs, the config object's head check, the stage order. No moto, no embedded stack."""

from __future__ import annotations

import dataclasses
import io
import tarfile
import tempfile
from pathlib import Path
from typing import cast

import pandas as pd
import pytest
from sklearn.datasets import load_iris

from mlops.config import DatasetConfig
from mlops.entities import ArtifactRef, Run
from mlops.errors import ConfigError, StageOrderError, TrainingFailed
from mlops.pipeline import sagemaker
from mlops.pipeline.config_object import sync_config_object
from mlops.pipeline.deps import Deps
from mlops.pipeline.payload import RunPayload, TrainingOutcome, ValidationOutcome
from mlops.pipeline.promote import promote_run
from mlops.pipeline.runs import finish_run, start_run
from mlops.registry import Registry
from mlops.settings import TrainingSettings
from tests.unit.pipeline.fakes import (
    MemoryExecutions,
    MemoryRegistry,
    MemoryRuns,
    MemoryStore,
    MemoryTrainingJobs,
)

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:mlops-dev-pipeline"
ROLE = "arn:aws:iam::123456789012:role/mlops-dev-sagemaker"
SETTINGS = TrainingSettings(
    metadata_table="t",
    data_bucket="data",
    artifact_bucket="artifacts",
    stage_name="dev",
    sagemaker_role_arn=ROLE,
    sagemaker_image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-ml:latest",
)
FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def iris() -> pd.DataFrame:
    data = load_iris(as_frame=True)
    frame = data.frame.drop(columns=["target"])
    frame["species"] = [str(data.target_names[i]) for i in data.target]
    return frame


@pytest.fixture()
def runs() -> MemoryRuns:
    return MemoryRuns()


@pytest.fixture()
def jobs() -> MemoryTrainingJobs:
    return MemoryTrainingJobs()


@pytest.fixture()
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture()
def deps(runs: MemoryRuns, jobs: MemoryTrainingJobs, store: MemoryStore) -> Deps:
    # The runs fake stands in for the registry's runs (the only part these flows read).
    registry = cast(Registry, MemoryRegistry(runs))
    executions = MemoryExecutions()
    return Deps(registry, store, "data", "artifacts", executions, executions, jobs)


@pytest.fixture()
def payload(runs: MemoryRuns) -> RunPayload:
    run = Run(run_id="iris-upload-0123", dataset="iris", trigger="upload", dataset_version="f" * 64)
    runs.create_run(run)
    validation = ValidationOutcome(
        passed=True,
        report_uri="s3://artifacts/r.json",
        feature_columns=FEATURES,
        excluded_columns=[],
        rows=150,
    )
    return RunPayload(
        run_id=run.run_id, dataset="iris", dataset_version="f" * 64, trigger="upload", validation=validation
    )


DATA = ArtifactRef(bucket="data", key="datasets/iris/fff/data.parquet", sha256="0" * 64, size=1)
CONFIG = DatasetConfig(target="species")


def started(deps: Deps, payload: RunPayload) -> RunPayload:
    outcome = sagemaker.start(deps, payload, CONFIG, SETTINGS, DATA)
    return payload.model_copy(update={"training": outcome})


def test_start_creates_one_job_writing_under_the_run(
    deps: Deps, payload: RunPayload, jobs: MemoryTrainingJobs
) -> None:
    polling = started(deps, payload)
    assert polling.training == TrainingOutcome(
        status="InProgress",
        backend="sagemaker",
        job_name=polling.training.job_name if polling.training else "",
    )
    (request,) = jobs.requests
    assert request["OutputDataConfig"]["S3OutputPath"] == "s3://artifacts/sagemaker/iris/iris-upload-0123/"
    assert (
        request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://data/datasets/iris/fff/"
    )
    assert request["RoleArn"] == ROLE
    # A retried start finds its own job under the name and creates nothing.
    assert started(deps, payload).training == polling.training
    assert len(jobs.requests) == 1


def test_start_refuses_another_stacks_job_under_the_name(
    deps: Deps, payload: RunPayload, jobs: MemoryTrainingJobs
) -> None:
    name = sagemaker.job_name("dev", deps.registry.runs.get_run(payload.run_id))
    jobs.create(
        {
            "TrainingJobName": name,
            "RoleArn": "arn:aws:iam::1:role/other",
            "OutputDataConfig": {"S3OutputPath": "s3://x/"},
        }
    )
    with pytest.raises(TrainingFailed, match="belongs to another stack or run"):
        started(deps, payload)


def test_start_needs_the_image_and_role(deps: Deps, payload: RunPayload) -> None:
    with pytest.raises(ConfigError, match="SAGEMAKER_IMAGE_URI"):
        sagemaker.start(deps, payload, CONFIG, dataclasses.replace(SETTINGS, sagemaker_role_arn=""), DATA)


def test_poll_waits_then_returns_the_trained_model(
    deps: Deps, payload: RunPayload, jobs: MemoryTrainingJobs, store: MemoryStore
) -> None:
    from mlops.ml.artifacts import write_training_output
    from mlops.ml.training import train

    polling = started(deps, payload)
    assert polling.training is not None and polling.training.job_name
    name = polling.training.job_name
    assert sagemaker.poll(deps, polling, SETTINGS) is None
    trained = train(iris(), CONFIG, FEATURES)
    archive = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for file in write_training_output(trained, Path(tmp)).values():
            tar.add(file, arcname=file.name)
    key = f"sagemaker/iris/iris-upload-0123/{name}/output/model.tar.gz"
    store.put("artifacts", key, archive.getvalue())
    jobs.end(name, status="Completed", model_uri=f"s3://artifacts/{key}")
    result = sagemaker.poll(deps, polling, SETTINGS)
    assert result is not None and result.metrics == trained.metrics
    # The archive written twice (replaced after the job wrote it) is not loaded.
    store.put("artifacts", key, archive.getvalue())
    with pytest.raises(TrainingFailed, match="was replaced after the training job wrote it"):
        sagemaker.poll(deps, polling, SETTINGS)


def test_poll_fails_the_run_with_sagemakers_reason(
    deps: Deps, payload: RunPayload, jobs: MemoryTrainingJobs
) -> None:
    polling = started(deps, payload)
    assert polling.training is not None and polling.training.job_name
    jobs.end(polling.training.job_name, status="Failed", failure_reason="AlgorithmError: out of memory")
    with pytest.raises(TrainingFailed, match=r"^AlgorithmError: out of memory$"):
        sagemaker.poll(deps, polling, SETTINGS)
    jobs.end(polling.training.job_name, status="Stopped", failure_reason=None)
    with pytest.raises(TrainingFailed, match="ended Stopped"):
        sagemaker.poll(deps, polling, SETTINGS)


def test_a_run_starts_its_execution_once_and_ends_once(deps: Deps, runs: MemoryRuns) -> None:
    executions = cast(MemoryExecutions, deps.executions)
    run = start_run(deps, MACHINE, "iris-upload-9", "iris", "a" * 64, "upload")
    assert run.execution_arn == f"{MACHINE.replace(':stateMachine:', ':execution:')}:iris-upload-9"
    assert list(executions.started) == [run.execution_arn]
    # A redelivered event finds the run and its execution and starts nothing new.
    assert start_run(deps, MACHINE, "iris-upload-9", "iris", "a" * 64, "upload") == runs.get_run(run.run_id)
    assert len(executions.started) == 1
    runs.locks["iris"] = run.run_id
    ended = finish_run(deps, run.run_id, "FAILED", failed_stage="training", error="No rows.")
    assert (ended.status, ended.error, runs.locks) == ("FAILED", "No rows.", {})
    # Ending it again changes nothing: the first end stands.
    assert finish_run(deps, run.run_id, "SUCCEEDED").status == "FAILED"


def test_a_function_built_without_an_adapter_says_so(runs: MemoryRuns, store: MemoryStore) -> None:
    bare = Deps(cast(Registry, MemoryRegistry(runs)), store, "data", "artifacts")
    with pytest.raises(ConfigError, match="without Step Functions"):
        start_run(bare, MACHINE, "iris-upload-1", "iris", "a" * 64, "upload")


def test_no_config_object_is_nothing_to_apply(deps: Deps) -> None:
    assert sync_config_object(deps, "data", "iris") is None


def test_promotion_without_a_converted_model_is_a_stage_order_error(deps: Deps, payload: RunPayload) -> None:
    with pytest.raises(StageOrderError, match="reached promotion without a converted model"):
        promote_run(deps, payload)
