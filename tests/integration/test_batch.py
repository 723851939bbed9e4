"""Batch scoring end to end on the embedded stack: the batch ASL (a Distributed Map over the job's work
items, with the ItemBatcher and failure tolerance the embedded stack emulates) and the real handler."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops import aws
from mlops.batch.jobs import BatchJobs
from mlops.batch.models import BatchJob, BatchRequest, S3Location
from mlops.batch.service import new_job_id, start_job
from mlops.local.stack import EmbeddedStack
from mlops.models import ModelVersion
from mlops.registry import Registry
from mlops.stack import outputs as out
from tests.integration.conftest import embedded_stack, wait_for
from tests.integration.inference_fixtures import ARTIFACTS, CHURN_FEATURES, Trained, churn_frame, train_churn

MODEL = "churn"


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedStack]:
    with embedded_stack() as stack:
        yield stack


@pytest.fixture(scope="module")
def churn() -> Trained:
    return train_churn()


def publish(registry: Registry, model: Trained, promote: bool = True) -> ModelVersion:
    from mlops.models import ArtifactRef, utcnow
    from mlops.storage import Storage

    storage = Storage()
    version = registry.next_model_version(MODEL)
    prefix = f"models/{MODEL}/v{version}"
    artifacts: dict[str, ArtifactRef] = {
        "onnx": storage.put(ARTIFACTS, f"{prefix}/model.onnx", model.onnx),
    }
    record = ModelVersion(
        name=MODEL,
        version=version,
        task=model.signature.task,
        metrics=model.metrics,
        dataset_version="0" * 64,
        run_id=f"run-{version}",
        artifacts=artifacts,
        signature=model.signature,
        trained_at=utcnow(),
    )
    registry.put_model_version(record)
    if promote:
        registry.move_alias(MODEL, version, registry.get_alias(MODEL), "promote")
    return record


@pytest.fixture(scope="module")
def published(embedded: EmbeddedStack, churn: Trained) -> ModelVersion:
    return publish(Registry(embedded.stack.outputs[out.METADATA_TABLE]), churn)


def bucket(embedded: EmbeddedStack) -> str:
    return embedded.stack.outputs[out.DATA_BUCKET]


def run_job(embedded: EmbeddedStack, input_key: str, output_key: str, **request: Any) -> BatchJob:
    data = bucket(embedded)
    job = BatchRequest(
        job_id=new_job_id(MODEL),
        model=MODEL,
        input=S3Location(bucket=data, key=input_key),
        output=S3Location(bucket=data, key=output_key),
        **request,
    )
    start_job(aws.stepfunctions(), embedded.stack.outputs[out.BATCH_STATE_MACHINE_ARN], job)
    jobs = BatchJobs(Registry(embedded.stack.outputs[out.METADATA_TABLE]))

    def ended() -> BatchJob | None:
        found = jobs.find(job.job_id)
        return found if found is not None and found.status != "RUNNING" else None

    result: BatchJob = wait_for(ended, timeout_s=180)
    return result


def put(embedded: EmbeddedStack, key: str, body: bytes) -> None:
    aws.s3().put_object(Bucket=bucket(embedded), Key=key, Body=body)


def read_csv(embedded: EmbeddedStack, uris: list[str]) -> pd.DataFrame:
    frames = []
    for uri in uris:
        key = uri.split("/", 3)[3]
        body = aws.s3().get_object(Bucket=bucket(embedded), Key=key)["Body"].read()
        frames.append(pd.read_csv(io.BytesIO(body)))
    return pd.concat(frames, ignore_index=True)


def test_csv_round_trip(embedded: EmbeddedStack, published: ModelVersion, churn: Trained) -> None:
    frame = churn_frame(rows=300, seed=11).drop(columns=["churned"])
    put(embedded, "batch/in/customers.csv", frame.to_csv(index=False).encode())
    job = run_job(embedded, "batch/in/customers.csv", "batch/out/csv/")
    assert job.status == "SUCCEEDED", job.error
    assert (job.rows_in, job.rows_out, job.rows_failed) == (300, 300, 0)
    assert job.version == published.version
    assert job.model_sha256 == published.artifacts["onnx"].sha256
    scored = read_csv(embedded, job.outputs)
    assert list(scored.columns) == [
        *frame.columns,
        "prediction",
        *(f"probability_{c}" for c in churn.signature.classes or []),
        "model_version",
    ]
    expected = churn.pipeline.predict_proba(frame[CHURN_FEATURES])
    scored = scored.set_index("customer_id").loc[frame["customer_id"]]
    probabilities = scored[["probability_no", "probability_yes"]].to_numpy()
    # A missing category is an unseen one for the ONNX graph (mlops.signature), where scikit-learn imputes.
    complete = frame["payment_method"].notna().to_numpy()
    np.testing.assert_allclose(probabilities[complete], expected[complete], atol=1e-4)
    assert (scored["model_version"] == published.version).all()
