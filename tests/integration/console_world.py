"""A demo-like history on the embedded stack for the console's tests: two accepted versions of iris,
a failed upload, two drift evaluations (one stable, one drifted) of the production model, and a
batch job with one bad row.

The runs go through the real pipeline (state machine, handlers); traffic is written to the capture
bucket as the inference function's Firehose stream leaves it, and drift runs through its function.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sklearn.datasets import load_iris

from mlops import aws
from mlops.batch.entities import BatchJob, BatchRequest, S3Location
from mlops.batch.submit import new_job_id, start_job
from mlops.config import DatasetConfig
from mlops.definition import outputs as out
from mlops.entities import Run
from mlops.executions import default_execution_starter
from mlops.local.embedded import EmbeddedStack
from mlops.registry import Registry
from tests.integration.conftest import wait_for, wait_for_run
from tests.integration.test_pipeline import _csv, outcome_of, upload

DATASET = "iris"
TARGET = "species"


@dataclass(frozen=True)
class World:
    runs: list[Run]
    failed: Run
    production: int
    batch: BatchJob


def iris_frame() -> pd.DataFrame:
    data = load_iris(as_frame=True)
    frame = data.frame.drop(columns=["target"])
    frame[TARGET] = [data.target_names[i] for i in data.target]
    return frame


def _run(registry: Registry, bucket: str, name: str, body: bytes) -> Run:
    sent = upload(bucket, DATASET, name, body)
    raw = outcome_of(registry, DATASET, bucket, sent["key"], sent["etag"])
    assert raw.run_id, raw.reason
    return wait_for_run(registry, raw.run_id)


def capture_traffic(embedded: EmbeddedStack, version: int, rows: int, seed: int, shift: bool) -> None:
    frame = iris_frame().drop(columns=[TARGET]).sample(rows, replace=True, random_state=seed)
    rng = np.random.default_rng(seed)
    values = frame.to_numpy() * rng.normal(1.0, 0.01, size=frame.shape)
    if shift:
        values[:, 2] += 2.0 * float(frame.iloc[:, 2].std())
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    lines = [
        json.dumps(
            {
                "request_id": f"req-{seed}-{i}",
                "model": DATASET,
                "version": version,
                "timestamp": stamp,
                "row": 0,
                "features": dict(zip(frame.columns, map(float, row), strict=True)),
                "prediction": "setosa",
                "probabilities": [0.8, 0.1, 0.1],
            }
        )
        for i, row in enumerate(values)
    ]
    key = f"capture/{DATASET}/{datetime.now(UTC).date().isoformat()}/{DATASET}-{seed}"
    aws.s3().put_object(
        Bucket=embedded.stack.outputs[out.CAPTURE_BUCKET], Key=key, Body="\n".join(lines).encode()
    )


def score_batch(embedded: EmbeddedStack, registry: Registry, bucket: str) -> BatchJob:
    """A batch job through the batch state machine, as ``mlops batch score`` starts it: 20 rows, one bad."""
    frame = iris_frame().drop(columns=[TARGET]).head(20).astype({"petal width (cm)": object})
    frame.loc[4, "petal width (cm)"] = "wide"
    aws.s3().put_object(Bucket=bucket, Key="batch/console/in/iris.csv", Body=_csv(frame))
    request = BatchRequest(
        job_id=new_job_id(DATASET),
        model=DATASET,
        input=S3Location(bucket=bucket, key="batch/console/in/iris.csv"),
        output=S3Location(bucket=bucket, key="batch/console/out/"),
    )
    start_job(default_execution_starter(), embedded.stack.outputs[out.BATCH_STATE_MACHINE_ARN], request)
    jobs = registry.batch_jobs

    def ended() -> BatchJob | None:
        found = jobs.find(request.job_id)
        return found if found is not None and found.status != "RUNNING" else None

    job: BatchJob = wait_for(ended, timeout_s=180)
    assert job.status == "SUCCEEDED" and job.rows_failed == 1, job
    return job


def build_world(embedded: EmbeddedStack, registry: Registry, bucket: str) -> World:
    registry.datasets.put_config(DATASET, DatasetConfig(target=TARGET))
    frame = iris_frame()
    first = _run(registry, bucket, "iris.csv", _csv(frame))
    second = _run(registry, bucket, "iris-more.csv", _csv(pd.concat([frame, frame.head(30)])))
    failed = _run(registry, bucket, "no-target.csv", _csv(frame.drop(columns=[TARGET])))
    assert first.status == second.status == "SUCCEEDED", (first.error, second.error)
    assert failed.status == "FAILED"
    production = registry.models.get_production(DATASET)
    assert production is not None
    capture_traffic(embedded, production.version, 300, seed=1, shift=False)
    assert not embedded.runtime.invoke("drift", {"model": DATASET}).failed
    capture_traffic(embedded, production.version, 900, seed=2, shift=True)
    assert not embedded.runtime.invoke("drift", {"model": DATASET}).failed
    batch = score_batch(embedded, registry, bucket)
    return World([first, second, failed], failed, production.version, batch)
