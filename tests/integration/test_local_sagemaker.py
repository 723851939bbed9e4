"""SageMaker training jobs on the embedded stack run their real entry point.

A table past ``INLINE_MAX_ROWS`` trains as a SageMaker job. moto alone reports such a job Completed
without running it, so the run failed looking for the model. The threshold is lowered here through
the functions' environment (``INLINE_MAX_ROWS=200``) so that a 400-row upload takes the same path a
500,001-row one does, in seconds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops import aws
from mlops.definition import outputs as out
from mlops.local.embedded import EmbeddedStack
from mlops.local.sagemaker import TRAINING_LOG_GROUP
from mlops.pipeline.sagemaker import job_request
from mlops.registry import Registry
from tests.integration.conftest import embedded_stack, run_cli, wait_for
from tests.integration.test_cli import classification_csv

INLINE_MAX_ROWS = 200


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedStack]:
    with embedded_stack(function_env={"INLINE_MAX_ROWS": str(INLINE_MAX_ROWS)}) as stack:
        yield stack


def job_logs(job: str) -> list[str]:
    logs = aws.client("logs")
    streams = logs.describe_log_streams(logGroupName=TRAINING_LOG_GROUP, logStreamNamePrefix=f"{job}/")
    assert [s["logStreamName"].split("/algo-1-")[0] for s in streams["logStreams"]] == [job]
    events = logs.get_log_events(
        logGroupName=TRAINING_LOG_GROUP, logStreamName=streams["logStreams"][0]["logStreamName"]
    )
    return [e["message"] for e in events["events"]]


def ended_job(name: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        job = dict(aws.sagemaker().describe_training_job(TrainingJobName=name))
        return job if job["TrainingJobStatus"] != "InProgress" else None

    result: dict[str, Any] = wait_for(ended, timeout_s=120)
    return result


def test_upload_past_inline_max_rows_trains_as_a_job_and_reaches_production(
    embedded: EmbeddedStack, registry: Registry, tmp_path: Path
) -> None:
    csv = classification_csv(tmp_path / "big.csv", 2 * INLINE_MAX_ROWS, 7)
    outcome = run_cli(
        "upload", str(csv), "--dataset", "big", "--target", "label", "--wait", "--timeout", "300"
    )
    assert outcome.code == 0, outcome.err
    assert "model big v1 promoted to production." in outcome.out.splitlines()[0]
    (run,) = registry.runs.list_runs("big")
    training = registry.runs.get_stage(run.run_id, "training")
    assert training is not None and training.summary["backend"] == "sagemaker"
    name = training.summary["job_name"]
    job = aws.sagemaker().describe_training_job(TrainingJobName=name)
    assert job["TrainingJobStatus"] == "Completed" and job["SecondaryStatus"] == "Completed"
    assert "FailureReason" not in job
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert any(f"on {2 * INLINE_MAX_ROWS} rows" in line for line in job_logs(name))
    model = registry.models.find_model_version("big", 1)
    assert model is not None and model.metrics == training.summary["metrics"]


def start_job(
    name: str, bucket: str, prefix: str, hyperparameters: dict[str, str], max_runtime_s: int = 600
) -> None:
    request = job_request(
        name,
        os.environ["SAGEMAKER_ROLE_ARN"],
        os.environ["SAGEMAKER_IMAGE_URI"],
        hyperparameters,
        data_uri=f"s3://{bucket}/{prefix}",
        output_uri=f"s3://{bucket}/jobs/",
        instance_type="ml.m5.xlarge",
        max_runtime_s=max_runtime_s,
    )
    aws.sagemaker().create_training_job(**request)


def test_a_failing_job_reports_its_failure_file_as_sagemaker_does(embedded: EmbeddedStack) -> None:
    bucket = embedded.stack.outputs[out.DATA_BUCKET]
    aws.s3().put_object(Bucket=bucket, Key="jobs-input/a/data.parquet", Body=b"not parquet")
    start_job(
        "mlops-local-bad-hyperparameters", bucket, "jobs-input/a/", {"feature_columns": json.dumps(["x"])}
    )
    job = ended_job("mlops-local-bad-hyperparameters")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: The training job's hyperparameters have no 'config'."
    assert "ModelArtifacts" not in job
    assert any(
        "training failed: The training job's hyperparameters" in line
        for line in job_logs(job["TrainingJobName"])
    )


def test_a_job_without_input_fails_with_a_client_error(embedded: EmbeddedStack) -> None:
    bucket = embedded.stack.outputs[out.DATA_BUCKET]
    start_job(
        "mlops-local-no-input", bucket, "jobs-input/nothing/", {"config": "{}", "feature_columns": "[]"}
    )
    job = ended_job("mlops-local-no-input")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == (
        f'ClientError: No S3 objects found under S3 URL "s3://{bucket}/jobs-input/nothing/" given in input '
        "data source."
    )


def test_a_job_past_its_time_limit_is_stopped(embedded: EmbeddedStack) -> None:
    bucket = embedded.stack.outputs[out.DATA_BUCKET]
    aws.s3().put_object(Bucket=bucket, Key="jobs-input/b/data.parquet", Body=b"not parquet")
    # One second is less than the entry point takes to import its libraries.
    start_job("mlops-local-too-slow", bucket, "jobs-input/b/", {"config": "{}"}, max_runtime_s=1)
    job = ended_job("mlops-local-too-slow")
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert "FailureReason" not in job and "ModelArtifacts" not in job
