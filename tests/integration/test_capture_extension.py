"""Capture off the request path: the function spools, the capture extension ships, nothing is lost.

The inference function runs in an execution environment with its capture extension (the same
``mlops.serving.extension`` loop the layer's executable runs, over the Extensions API), against moto's
Firehose with the embedded stack's partitioning.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mlops import aws
from mlops.serving.spool import SpoolReader
from tests.events import load_event
from tests.integration.inference_fixtures import (
    CAPTURE,
    InferenceStack,
    Trained,
    inference_stack,
    train_churn,
)


@pytest.fixture(scope="module")
def churn() -> Trained:
    return train_churn()


@pytest.fixture
def stack(churn: Trained) -> Iterator[InferenceStack]:
    # An hour between flushes: nothing ships before the container shuts down.
    with inference_stack(CAPTURE_FLUSH_INTERVAL_S="3600") as running:
        running.publish("churn", churn)
        yield running


def predict(stack: InferenceStack, request_id: str) -> dict[str, Any]:
    event = json.loads(json.dumps(load_event("inference/predict_records")))
    event["requestContext"]["requestId"] = request_id
    response = stack(event)
    assert response["statusCode"] == 200
    return response


def stored_request_ids() -> list[str]:
    s3 = aws.s3()
    ids = []
    for item in s3.list_objects_v2(Bucket=CAPTURE, Prefix="capture/churn/").get("Contents", []):
        body = s3.get_object(Bucket=CAPTURE, Key=item["Key"])["Body"].read().decode()
        ids.extend(json.loads(line)["request_id"] for line in body.splitlines())
    return ids


def test_records_buffered_when_the_container_shuts_down_are_all_delivered(stack: InferenceStack) -> None:
    sent = [f"before-shutdown-{i}" for i in range(25)]
    for request_id in sent:
        predict(stack, request_id)
    assert SpoolReader(stack.spool_dir).pending_bytes() > 0
    assert stored_request_ids() == []  # still buffered: the responses went out without them
    stack.environment.shutdown()  # Lambda reclaims the environment: SHUTDOWN to the extension
    stored = stored_request_ids()
    assert sorted(set(stored)) == sorted(sent)
    assert len(stored) == 2 * len(sent)  # two rows per request, each exactly once
    assert SpoolReader(stack.spool_dir).pending_bytes() == 0
