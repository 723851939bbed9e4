"""Each function on its own: the embedded stack in in-process moto, its resources created from the
description but not wired, so a test hands one function its event and looks at what it did."""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_iris

from mlops import aws
from mlops.config import DatasetConfig
from mlops.definition import outputs as out
from mlops.local.embedded import EmbeddedStack
from mlops.local.runtime import InvocationResult
from mlops.registry import Registry
from tests.events import load_event
from tests.integration.conftest import embedded_stack

_SEQUENCER = itertools.count(1)


@pytest.fixture(scope="module")
def stack() -> Iterator[EmbeddedStack]:
    # Executions are recorded but not run: each test drives the one function it is about.
    with embedded_stack(execute=False, wire=False) as embedded:
        yield embedded


@pytest.fixture(scope="module")
def registry(stack: EmbeddedStack) -> Registry:
    return Registry(stack.stack.outputs[out.METADATA_TABLE])


@pytest.fixture()
def ds(request: pytest.FixtureRequest) -> str:
    """A dataset name of this test's own: tests share one stack per module."""
    return re.sub(r"[^A-Za-z0-9-]", "-", request.node.name)[:60].strip("-")


def iris_frame() -> pd.DataFrame:
    data = load_iris(as_frame=True)
    frame = data.frame.drop(columns=["target"])
    frame["species"] = [str(data.target_names[i]) for i in data.target]
    return frame


def csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def s3_event(bucket: str, key: str, body: bytes) -> dict[str, Any]:
    """The sample S3 event, pointed at an object this test put."""
    put = aws.s3().put_object(Bucket=bucket, Key=key, Body=body)
    event = load_event("ingest/s3_put")
    record = event["Records"][0]
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["object"].update(
        key=key.replace(" ", "+"),
        size=len(body),
        eTag=put["ETag"].strip('"'),
        versionId=put.get("VersionId"),
        sequencer=f"{next(_SEQUENCER):018X}",
    )
    return event


def invoke(stack: EmbeddedStack, name: str, event: Any) -> InvocationResult:
    return stack.runtime.invoke(name, event)


def ingest_iris(
    stack: EmbeddedStack, registry: Registry, dataset: str = "iris", frame: Any = None
) -> dict[str, Any]:
    """Upload + ingest; returns the state machine input the ingest function started."""
    registry.datasets.put_config(dataset, DatasetConfig(target="species"))
    body = csv_bytes(iris_frame() if frame is None else frame)
    result = invoke(
        stack, "ingest", s3_event(stack.stack.outputs[out.DATA_BUCKET], f"raw/{dataset}/data.csv", body)
    )
    assert not result.failed, result.payload
    outcome = result.payload["outcomes"][0]
    assert outcome["action"] == "started", outcome
    run = registry.runs.get_run(outcome["run_id"])
    return {
        "run_id": run.run_id,
        "dataset": dataset,
        "dataset_version": run.dataset_version,
        "trigger": "upload",
    }


def run_through(stack: EmbeddedStack, payload: dict[str, Any], *functions: str) -> dict[str, Any]:
    """Hand the state machine document from function to function, as the ASL does."""
    for name in functions:
        result = invoke(stack, name, payload)
        assert not result.failed, (name, result.payload)
        payload = result.payload
    return payload
