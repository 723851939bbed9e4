"""Session-wide generated frames for the ML tests (see ml_testdata)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from tests.unit.ml.ml_testdata import make_frame


@pytest.fixture(scope="session")
def binary_frame() -> pd.DataFrame:
    return make_frame(400, "binary")


@pytest.fixture(scope="session")
def multiclass_frame() -> pd.DataFrame:
    return make_frame(450, "multiclass", seed=1)


@pytest.fixture(scope="session")
def regression_frame() -> pd.DataFrame:
    return make_frame(400, "regression", seed=2)


@pytest.fixture
def frames(
    binary_frame: pd.DataFrame, multiclass_frame: pd.DataFrame, regression_frame: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    return {"binary": binary_frame, "multiclass": multiclass_frame, "regression": regression_frame}


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_worker() -> Iterator[None]:
    # Tests run two workers on two cores; OpenMP threads on top of that spin against each other and
    # turn a 0.1 s gradient-boosting fit into seconds.
    with threadpool_limits(limits=1):
        yield
