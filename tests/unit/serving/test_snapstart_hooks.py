"""SnapStart's hooks as plain functions: models loaded before the snapshot, uniqueness and freshness
restored after it."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest
from moto import mock_aws

from mlops import aws
from mlops.serving import snapstart
from mlops.serving.capture_writer import Capture
from mlops.serving.model_store import ModelStore
from mlops.serving.service import InferenceService, Limits
from tests.integration.inference_fixtures import Trained
from tests.unit.serving.serving_testdata import Clock, MemorySource


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(source: MemorySource, clock: Clock, churn: Trained, diabetes: Trained) -> InferenceService:
    source.publish("churn", churn)
    source.publish("diabetes", diabetes)
    source.publish("draft", churn, promote=False)
    return InferenceService(ModelStore(source, 60, clock=clock), Capture(None, 0), Limits(10, 10_000))


def test_before_snapshot_loads_every_production_model(
    service: InferenceService, source: MemorySource
) -> None:
    assert snapstart.before_snapshot(service) == ["churn:1", "diabetes:1"]
    downloads = source.downloads
    assert service.model("churn").version == 1  # served from memory: nothing downloaded again
    assert source.downloads == downloads
    assert service.model("churn").layout._records_decoder is not None  # the large-body decoder too


def test_before_snapshot_builds_a_forests_bulk_graph_too(
    source: MemorySource, clock: Clock, churn_forest: Trained
) -> None:
    source.publish("forest", churn_forest)
    service = InferenceService(ModelStore(source, 60, clock=clock), Capture(None, 0), Limits(10, 10_000))
    assert snapstart.before_snapshot(service) == ["forest:1"]
    assert source.downloads == 2  # model.onnx and model.bulk.onnx, both in the snapshot
    assert service.model("forest").bulk_session() is not None
    assert source.downloads == 2


def test_after_restore_serves_a_promotion_made_since_the_snapshot_at_once(
    service: InferenceService, source: MemorySource, churn: Trained
) -> None:
    snapstart.before_snapshot(service)
    source.publish("churn", churn)  # version 2 promoted while the snapshot waited
    assert service.model("churn").version == 1  # the alias TTL has not passed on the snapshot's clock
    snapstart.after_restore(service)
    assert service.model("churn").version == 2


def test_each_restore_samples_its_own_random_sequence(service: InferenceService) -> None:
    draws = []
    for _ in range(2):
        random.seed(7)  # the state every environment restored from one snapshot starts with
        snapstart.after_restore(service)
        draws.append(random.random())
    assert draws[0] != draws[1]


@pytest.fixture
def moto() -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    try:
        with mock_aws():
            aws.reset_clients()
            yield
    finally:
        aws.reset_clients()
        os.environ.clear()
        os.environ.update(saved)


def test_after_restore_drops_pooled_connections_and_the_clients_still_work(
    moto: None, service: InferenceService
) -> None:
    s3 = aws.s3()
    s3.create_bucket(Bucket="before-the-snapshot")
    pool = s3._endpoint.http_session._manager  # what holds the connections opened before the snapshot
    pool.connection_from_host("example.com", 443, "https")
    assert len(pool.pools) == 1
    snapstart.after_restore(service)
    assert len(pool.pools) == 0
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["before-the-snapshot"]
