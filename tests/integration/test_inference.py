"""The inference function end to end in moto: real events, models trained and converted by the project,
the registry's production alias, S3 artifacts with their sha256, capture through Firehose to S3."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from mlops import aws
from mlops.definition import description as d
from mlops.local.firehose import delivery_stream_config
from mlops.ml.features import prepare_features
from tests.events import load_event
from tests.integration.conftest import wait_for
from tests.integration.inference_fixtures import (
    ROLE,
    STREAM,
    InferenceStack,
    Trained,
    body,
    inference_stack,
    train_churn,
    train_diabetes,
)

TTL_S = 0.2  # the stack's ALIAS_TTL_SECONDS


@pytest.fixture(scope="module")
def churn() -> Trained:
    return train_churn()


@pytest.fixture(scope="module")
def churn_forest() -> Trained:
    return train_churn("random_forest", n_estimators=10, max_depth=4)


@pytest.fixture(scope="module")
def stack(churn: Trained) -> Iterator[InferenceStack]:
    with inference_stack() as running:
        running.publish("churn", churn)
        yield running


def event(name: str, path: str | None = None, payload: Any = None) -> dict[str, Any]:
    sample = load_event(f"inference/{name}")
    if path is not None:
        sample["path"] = path
    if payload is not None:
        sample["body"] = json.dumps(payload)
    return sample


def sample_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(load_event("inference/predict_records")["body"])["records"]
    return rows


def expected(model: Trained, rows: list[dict[str, Any]]) -> tuple[list[Any], np.ndarray[Any, Any]]:
    import pandas as pd

    features = prepare_features(pd.DataFrame(rows), model.signature)
    return list(model.pipeline.predict(features)), model.pipeline.predict_proba(features)


def wait_ttl() -> None:
    time.sleep(TTL_S * 1.5)


def test_every_route_answers_the_sample_events(stack: InferenceStack, churn: Trained) -> None:
    labels, probabilities = expected(churn, sample_rows())
    for form in ("records", "instances", "dataframe_split"):
        response = stack(event(f"predict_{form}"))
        assert response["statusCode"] == 200, response["body"]
        document = body(response)
        assert (document["model"], document["version"], document["predictions"]) == ("churn", 1, labels)
        np.testing.assert_allclose(document["probabilities"], probabilities, atol=1e-5)
    infer = body(stack(event("v2_infer")))
    assert infer["outputs"][0]["data"] == labels
    np.testing.assert_allclose(np.reshape(infer["outputs"][1]["data"], (2, 2)), probabilities, atol=1e-5)
    assert body(stack(event("model_metadata")))["classes"] == ["no", "yes"]
    assert body(stack(event("v2_model_metadata")))["versions"] == ["1"]
    assert body(stack(event("v2_model_ready"))) == {"name": "churn", "ready": True}
    assert body(stack(event("health"))) == {"ready": True}
    assert body(stack(event("openapi")))["info"]["title"] == "mlops inference API"


def test_one_function_serves_several_models(stack: InferenceStack) -> None:
    diabetes = train_diabetes()
    stack.publish("diabetes", diabetes)
    rows = diabetes.frame.drop(columns=["target"]).head(3).to_dict("records")
    response = stack(event("predict_records", "/models/diabetes/predict", {"records": rows}))
    assert response["statusCode"] == 200, response["body"]
    features = prepare_features(diabetes.frame.head(3), diabetes.signature)
    np.testing.assert_allclose(body(response)["predictions"], diabetes.pipeline.predict(features), rtol=1e-4)
    assert "probabilities" not in body(response)
    assert stack(event("predict_records"))["statusCode"] == 200


def test_a_model_serves_once_promoted(stack: InferenceStack, churn: Trained) -> None:
    stack.publish("fresh", churn, promote=False)
    response = stack(event("predict_records", "/models/fresh/predict"))
    assert (response["statusCode"], body(response)["error"]["code"]) == (503, "no_production_model")
    stack.promote("fresh", 1)
    wait_ttl()
    assert body(stack(event("predict_records", "/models/fresh/predict")))["version"] == 1


def test_promote_and_rollback_take_effect_within_the_alias_ttl(
    stack: InferenceStack, churn: Trained, churn_forest: Trained
) -> None:
    path = "/models/cycle/predict"
    stack.publish("cycle", churn)
    wait_ttl()
    assert body(stack(event("predict_records", path)))["version"] == 1
    stack.publish("cycle", churn_forest)  # promotes version 2
    wait_ttl()
    promoted = body(stack(event("predict_records", path)))
    assert promoted["version"] == 2
    np.testing.assert_allclose(promoted["probabilities"], expected(churn_forest, sample_rows())[1], atol=1e-5)
    stack.promote("cycle", 1, action="rollback")
    wait_ttl()
    assert body(stack(event("predict_records", path)))["version"] == 1


def test_a_tampered_model_is_refused_and_the_previous_version_keeps_serving(
    stack: InferenceStack,
    churn: Trained,
    churn_forest: Trained,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = "/models/guarded/predict"
    stack.publish("guarded", churn)
    wait_ttl()
    assert body(stack(event("predict_records", path)))["version"] == 1
    second = stack.publish("guarded", churn_forest, promote=False)
    stack.tamper(second)
    stack.promote("guarded", 2)
    wait_ttl()
    capsys.readouterr()
    response = stack(event("predict_records", path))
    assert (response["statusCode"], body(response)["version"]) == (200, 1)
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    failures = [e for e in emitted if "ArtifactIntegrityFailure" in e]
    assert failures and failures[0]["model"] == "guarded"
    assert "does not match its recorded sha256" in caplog.text


def test_capture_lands_under_the_model_and_the_day(stack: InferenceStack) -> None:
    sent = event("predict_records", "/models/churn/predict")
    sent["requestContext"]["requestId"] = "capture-check-1"
    answer = body(stack(sent))
    lines = [line for line in stack.captured("churn") if line["request_id"] == "capture-check-1"]
    assert [line["row"] for line in lines] == [0, 1]
    first = lines[0]
    assert set(first) == {
        "request_id",
        "model",
        "version",
        "timestamp",
        "row",
        "features",
        "prediction",
        "probabilities",
    }
    assert (first["model"], first["version"]) == ("churn", 1)
    assert first["prediction"] == answer["predictions"][0]
    assert first["probabilities"] == answer["probabilities"][0]
    assert first["features"] == {
        "tenure": 2.0,
        "monthly_charges": 89.95,
        "total_charges": 180.4,
        "contract": "month-to-month",
        "payment_method": "card",
        "senior": 0.0,
    }
    assert lines[1]["features"]["total_charges"] is None
    assert datetime.fromisoformat(first["timestamp"]).tzinfo is not None
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    keys = stack.capture_keys()
    assert keys and all(
        key.startswith(
            (
                "capture/churn/",
                "capture/diabetes/",
                "capture/fresh/",
                "capture/cycle/",
                "capture/guarded/",
                "capture/bulk/",
            )
        )
        for key in keys
    )
    assert any(key.startswith(f"capture/churn/{today}/mlops-capture-") for key in keys)


def test_a_large_batch_is_served_and_captured_in_firehose_sized_records(
    stack: InferenceStack, churn: Trained
) -> None:
    stack.publish("bulk", churn)
    wait_ttl()
    rows = json.loads(churn.frame.drop(columns=["customer_id", "churned"]).to_json(orient="records")) * 3
    response = stack(event("predict_records", "/models/bulk/predict", {"records": rows}))
    assert response["statusCode"] == 200, response["body"][:300]
    assert len(body(response)["predictions"]) == 1200
    assert [line["row"] for line in stack.captured("bulk")] == list(range(1200))
    too_many = stack(event("predict_records", "/models/bulk/predict", {"records": rows * 9}))
    assert (too_many["statusCode"], body(too_many)["error"]["code"]) == (413, "payload_too_large")


def test_a_capture_failure_does_not_fail_the_request_and_loses_nothing(
    stack: InferenceStack, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    firehose = aws.firehose()
    firehose.delete_delivery_stream(DeliveryStreamName=STREAM)
    sent = event("predict_records")
    sent["requestContext"]["requestId"] = "capture-while-firehose-is-gone"
    try:
        capsys.readouterr()
        response = stack(sent)
        assert response["statusCode"] == 200
        # The extension's shipment fails: logged and counted, off the request path.
        wait_for(lambda: "Could not capture a request" in caplog.text, timeout_s=10)
        out = capsys.readouterr().out
        assert any(
            "CaptureFailure" in json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')
        )
    finally:
        firehose.create_delivery_stream(
            **delivery_stream_config(d.CAPTURE_STREAM, lambda n: f"mlops-{n}", ROLE)
        )
    # The lines stayed in the spool and land once Firehose is back.
    lines = [
        line for line in stack.captured("churn") if line["request_id"] == "capture-while-firehose-is-gone"
    ]
    assert [line["row"] for line in lines] == [0, 1]


def test_errors_answer_json_in_the_contract_shape(stack: InferenceStack) -> None:
    cases = [
        (event("predict_records", "/models/unknown/predict"), 404, "model_not_found"),
        (event("predict_records", payload={"records": [{"tenure": 1}]}), 400, "invalid_input"),
        (event("predict_records", payload={"records": []}), 400, "invalid_input"),
        (event("model_metadata", "/nowhere"), 404, "not_found"),
        (event("model_metadata", "/models/churn/predict"), 405, "method_not_allowed"),
    ]
    for sent, status, code in cases:
        response = stack(sent)
        assert (response["statusCode"], body(response)["error"]["code"]) == (status, code)
    v2 = stack(event("v2_infer", "/v2/models/unknown/infer"))
    assert (v2["statusCode"], body(v2)) == (404, {"error": "No model named 'unknown'."})
