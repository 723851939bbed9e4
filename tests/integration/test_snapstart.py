"""The inference function's SnapStart hooks, run the way the Lambda runtime runs them: the handler's
init registers them with ``snapshot_restore_py``; before the snapshot they run in reverse order of
registration, after a restore in order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from snapshot_restore_py import get_after_restore, get_before_snapshot

from tests.events import load_event
from tests.integration.inference_fixtures import InferenceStack, Trained, body, inference_stack, train_churn


@pytest.fixture(scope="module")
def churn() -> Trained:
    return train_churn()


@pytest.fixture
def stack(churn: Trained) -> Iterator[InferenceStack]:
    with inference_stack(ALIAS_TTL_SECONDS="3600") as running:
        running.publish("churn", churn)
        yield running


def hooks(registered: list[Any], stack: InferenceStack) -> list[Any]:
    """This handler module's hooks (every import of a handler registers its own)."""
    return [(f, a, k) for f, a, k in registered if a and a[0] is stack.module.service]


def test_the_snapshot_holds_the_loaded_models_and_a_restore_reads_the_alias_again(
    stack: InferenceStack, churn: Trained
) -> None:
    before, after = hooks(get_before_snapshot(), stack), hooks(get_after_restore(), stack)
    assert before and after
    for func, args, kwargs in reversed(before):
        func(*args, **kwargs)
    assert [m.version for m in stack.module.service.store.loaded()] == [1]
    stack.publish("churn", churn)  # promoted while the snapshot waits to be restored
    for func, args, kwargs in after:
        func(*args, **kwargs)
    event: dict[str, Any] = json.loads(json.dumps(load_event("inference/predict_records")))
    assert body(stack(event))["version"] == 2  # no waiting for the hour-long alias TTL
