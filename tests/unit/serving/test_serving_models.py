"""The model store: alias TTL, promote and rollback, integrity checks, what serves when loading fails."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlops.observability import metrics
from mlops.serving.errors import ModelNotFound, ModelUnavailable, NoProductionModel
from mlops.serving.features import parse_predict_body
from mlops.serving.model_store import ModelStore
from mlops.signature import Signature
from mlops.signature_types import BULK_ARTIFACT, BULK_MIN_ROWS
from tests.integration.inference_fixtures import Trained
from tests.unit.serving.serving_testdata import Clock, MemorySource, first_rows

TTL = 30.0


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(source: MemorySource, clock: Clock) -> ModelStore:
    return ModelStore(source, alias_ttl_s=TTL, clock=clock)


def test_unknown_model_and_model_without_production_version(
    source: MemorySource, store: ModelStore, churn: Trained, clock: Clock
) -> None:
    with pytest.raises(ModelNotFound, match="No model named 'churn'"):
        store.get("churn")
    source.publish("churn", churn, promote=False)
    clock.advance(TTL)
    with pytest.raises(NoProductionModel, match="Model 'churn' has no production version yet"):
        store.get("churn")


def test_names_no_model_can_have_never_reach_the_registry(source: MemorySource, store: ModelStore) -> None:
    for name in ("x" * 1025, "\ud800"):
        with pytest.raises(ModelNotFound, match="No model named"):
            store.get(name)
    assert source.alias_reads == 0


def test_the_alias_is_read_at_most_once_per_ttl(
    source: MemorySource, store: ModelStore, churn: Trained, clock: Clock
) -> None:
    source.publish("churn", churn)
    for _ in range(5):
        assert store.get("churn").version == 1
    assert source.alias_reads == 1
    clock.advance(TTL - 0.001)
    store.get("churn")
    assert source.alias_reads == 1
    clock.advance(0.001)
    store.get("churn")
    assert source.alias_reads == 2
    assert source.downloads == 1


def test_promote_and_rollback_take_effect_after_the_ttl(
    source: MemorySource, store: ModelStore, churn: Trained, churn_forest: Trained, clock: Clock
) -> None:
    source.publish("churn", churn)
    assert store.get("churn").version == 1
    source.publish("churn", churn_forest)
    assert store.get("churn").version == 1  # still within the TTL
    clock.advance(TTL)
    assert store.get("churn").version == 2
    source.promote("churn", 1)  # rollback
    clock.advance(TTL)
    assert store.get("churn").version == 1
    assert source.downloads == 2  # the rollback reused the session kept in memory


def test_a_tampered_artifact_is_refused_and_the_last_good_version_keeps_serving(
    source: MemorySource,
    store: ModelStore,
    churn: Trained,
    churn_forest: Trained,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source.publish("churn", churn)
    assert store.get("churn").version == 1
    second = source.publish("churn", churn_forest)
    source.objects[second.artifacts["onnx"].key] = churn_forest.onnx[:-10] + b"0123456789"
    clock.advance(TTL)
    assert store.get("churn").version == 1
    assert "does not match its recorded sha256" in caplog.text
    emitted: dict[str, Any] = dict(metrics.serialize_metric_set())
    assert emitted["ArtifactIntegrityFailure"] == [1.0]
    assert emitted["model"] == "churn"
    # the next alias check tries again; once the artifact is right, the new version serves
    source.objects[second.artifacts["onnx"].key] = churn_forest.onnx
    clock.advance(TTL)
    assert store.get("churn").version == 2


def test_nothing_to_fall_back_on_is_model_unavailable(
    source: MemorySource, store: ModelStore, churn: Trained
) -> None:
    record = source.publish("churn", churn)
    source.objects[record.artifacts["onnx"].key] = b"tampered"
    with pytest.raises(
        ModelUnavailable, match="version 1 cannot be loaded and no earlier version is serving"
    ):
        store.get("churn")


@pytest.mark.parametrize("broken", ["graph", "signature"])
def test_a_version_that_cannot_serve_is_refused(
    source: MemorySource, store: ModelStore, churn: Trained, diabetes: Trained, broken: str
) -> None:
    if broken == "graph":
        # the diabetes graph has none of the churn signature's inputs
        mismatched = Trained(churn.pipeline, churn.signature, diabetes.onnx, churn.metrics, churn.frame)
    else:
        signature = Signature.model_validate(
            {**churn.signature.model_dump(), "label_output": "no_such_output"}
        )
        mismatched = Trained(churn.pipeline, signature, churn.onnx, churn.metrics, churn.frame)
    source.publish("churn", mismatched)
    with pytest.raises(ModelUnavailable):
        store.get("churn")


def test_a_registry_outage_keeps_the_loaded_model_serving(
    source: MemorySource, store: ModelStore, churn: Trained, clock: Clock
) -> None:
    source.publish("churn", churn)
    store.get("churn")
    source.registry_down = True
    clock.advance(TTL)
    assert store.get("churn").version == 1
    fresh = ModelStore(source, alias_ttl_s=TTL, clock=clock)
    with pytest.raises(ConnectionError):
        fresh.get("churn")


def test_several_models_serve_side_by_side(
    source: MemorySource, store: ModelStore, churn: Trained, diabetes: Trained
) -> None:
    source.publish("churn", churn)
    source.publish("diabetes", diabetes)
    assert {store.get("churn").signature.task, store.get("diabetes").signature.task} == {
        "classification",
        "regression",
    }
    assert {m.name for m in store.loaded()} == {"churn", "diabetes"}


def test_onnx_predictions_match_scikit_learn(source: MemorySource, store: ModelStore, churn: Trained) -> None:
    from mlops.ml.features import prepare_features

    source.publish("churn", churn)
    model = store.get("churn")
    rows = first_rows(churn, 20)
    prediction = model.predict(parse_predict_body(model.layout, {"records": rows}, 100))
    expected = churn.pipeline.predict_proba(prepare_features(churn.frame.head(20), churn.signature))
    assert prediction.probabilities is not None
    np.testing.assert_allclose(prediction.probabilities, expected, atol=1e-5)
    assert prediction.prediction_list() == list(
        churn.pipeline.predict(prepare_features(churn.frame.head(20), churn.signature))
    )


def _many_rows(model: Trained, n: int) -> list[dict[str, Any]]:
    return (first_rows(model, len(model.frame)) * (n // len(model.frame) + 1))[:n]


def test_a_forest_builds_its_bulk_graph_on_the_first_large_request_only(
    source: MemorySource, store: ModelStore, churn_forest: Trained
) -> None:
    assert churn_forest.bulk is not None
    source.publish("churn", churn_forest)
    model = store.get("churn")
    assert source.downloads == 1  # the cold start reads and builds model.onnx alone
    small = first_rows(churn_forest, 3)
    model.predict(parse_predict_body(model.layout, {"records": small}, 10_000))
    assert source.downloads == 1
    rows = _many_rows(churn_forest, BULK_MIN_ROWS)
    batch = parse_predict_body(model.layout, {"records": rows}, 10_000)
    bulk = model.predict(batch)
    assert source.downloads == 2 and model.bulk_session() is not None
    model.predict(batch)
    assert source.downloads == 2  # built once
    plain = model.session.run(None, model.feed(batch))
    assert bulk.labels is not None and np.array_equal(bulk.labels, np.asarray(plain[0]).reshape(-1))
    assert np.array_equal(bulk.probabilities, plain[1])


def test_a_tampered_bulk_graph_is_refused_and_large_requests_still_get_the_same_answers(
    source: MemorySource, store: ModelStore, churn_forest: Trained, caplog: pytest.LogCaptureFixture
) -> None:
    assert churn_forest.bulk is not None
    record = source.publish("churn", churn_forest)
    source.objects[record.artifacts[BULK_ARTIFACT].key] = churn_forest.bulk[:-10] + b"0123456789"
    model = store.get("churn")
    batch = parse_predict_body(model.layout, {"records": _many_rows(churn_forest, 600)}, 10_000)
    answer = model.predict(batch)
    assert "does not match its recorded sha256" in caplog.text
    assert model.bulk_session() is None
    assert answer.labels is not None and len(answer.labels) == 600
    assert np.array_equal(
        answer.labels, np.asarray(model.session.run(None, model.feed(batch))[0]).reshape(-1)
    )
    downloads = source.downloads
    model.predict(batch)
    assert source.downloads == downloads  # refused once, not fetched again per request
