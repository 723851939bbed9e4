"""Models trained and converted by the project's own code once per session, and an in-memory model
source (the registry and artifact bucket as plain dicts) for the serving unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits

from mlops.observability import metrics
from tests.integration.inference_fixtures import Trained, train_churn, train_diabetes
from tests.unit.serving.serving_testdata import MemorySource


@pytest.fixture(scope="session", autouse=True)
def one_thread() -> Iterator[None]:
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    # The function flushes its metrics after each invocation; tests start each from none.
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture(scope="session")
def churn() -> Trained:
    return train_churn()


@pytest.fixture(scope="session")
def churn_forest() -> Trained:
    return train_churn("random_forest", n_estimators=10, max_depth=4)


@pytest.fixture(scope="session")
def diabetes() -> Trained:
    return train_diabetes()


@pytest.fixture
def source() -> MemorySource:
    return MemorySource()
