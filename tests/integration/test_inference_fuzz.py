"""No input makes the inference function answer 5xx: property-based requests against the real handler.

Random JSON bodies, random feature values, random tensors, random paths and methods; every answer must
be a JSON 2xx/4xx in the error shape of its route family."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.events import load_event
from tests.integration.inference_fixtures import InferenceStack, inference_stack, train_churn, train_diabetes

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FEATURES = ["tenure", "monthly_charges", "total_charges", "contract", "payment_method", "senior"]


@pytest.fixture(scope="module")
def stack() -> Iterator[InferenceStack]:
    with inference_stack(ALIAS_TTL_SECONDS="30", CAPTURE_SAMPLE_RATE="0.2", MAX_BATCH_ROWS="20") as running:
        running.publish("churn", train_churn())
        running.publish("diabetes", train_diabetes())
        running.publish("draft", train_churn(), promote=False)
        yield running


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["month-to-month", "card", "", "NaN", "3"])
    | st.lists(st.integers(), max_size=2)
)
records = st.lists(
    st.dictionaries(st.sampled_from([*FEATURES, "customer_id", "extra"]), scalars, min_size=4, max_size=8),
    min_size=0,
    max_size=25,
)
model_names = st.sampled_from(["churn", "diabetes", "draft", "nope", "churn%2Fx", "%", "..", "a" * 300])


def check(response: dict[str, Any], path: str) -> dict[str, Any]:
    status = response["statusCode"]
    assert status in {200, 400, 404, 405, 413, 503}, response
    if status == 503:  # a state of the registry, not an answer to the input: the model is a draft
        assert "has no production version" in response["body"], response
    headers = {k.lower(): v[0] for k, v in response["multiValueHeaders"].items()}
    assert headers["content-type"] == "application/json"
    document: dict[str, Any] = json.loads(response["body"])
    if response["statusCode"] >= 400:
        assert set(document) == {"error"}
        if path.startswith("/v2"):
            assert isinstance(document["error"], str) and document["error"]
        else:
            assert set(document["error"]) == {"code", "message"}
            assert document["error"]["message"]
    return document


def send(
    stack: InferenceStack, method: str, path: str, body: str | None, sample: str = "predict_records"
) -> dict[str, Any]:
    event = load_event(f"inference/{sample}")
    event.update(httpMethod=method, path=path, body=body)
    return check(stack(event), path)


@FUZZ
@given(body=json_values, name=model_names)
def test_any_json_body_on_predict(stack: InferenceStack, body: Any, name: str) -> None:
    send(stack, "POST", f"/models/{name}/predict", json.dumps(body))


@FUZZ
@given(rows=records, form=st.sampled_from(["records", "instances", "dataframe_split"]))
def test_any_feature_values(stack: InferenceStack, rows: list[dict[str, Any]], form: str) -> None:
    if form == "records":
        payload: Any = {"records": rows}
    elif form == "instances":
        payload = {"instances": [[row.get(f) for f in FEATURES] for row in rows]}
    else:
        payload = {
            "dataframe_split": {"columns": FEATURES, "data": [[row.get(f) for f in FEATURES] for row in rows]}
        }
    document = send(stack, "POST", "/models/churn/predict", json.dumps(payload))
    if "predictions" in document:
        assert len(document["predictions"]) == len(rows)


tensors = st.fixed_dictionaries(
    {
        "name": st.sampled_from([*FEATURES, "input", "age"]) | json_values,
        "shape": st.lists(st.integers(min_value=-1, max_value=4), max_size=3),
        "datatype": st.sampled_from(["FP32", "FP64", "INT64", "BOOL", "BYTES", "UINT8", "FP8"]) | json_values,
        "data": st.lists(scalars, max_size=6) | json_values,
    },
    optional={"parameters": json_values},
)


@FUZZ
@given(
    inputs=st.lists(tensors, max_size=7),
    outputs=st.none()
    | st.lists(st.fixed_dictionaries({"name": st.sampled_from(["predictions", "probabilities", "x"])})),
    name=model_names,
)
def test_any_inference_request(stack: InferenceStack, inputs: list[Any], outputs: Any, name: str) -> None:
    payload: dict[str, Any] = {"inputs": inputs}
    if outputs is not None:
        payload["outputs"] = outputs
    send(stack, "POST", f"/v2/models/{name}/infer", json.dumps(payload), "v2_infer")


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
    path=st.lists(
        st.sampled_from(
            [
                "models",
                "v2",
                "health",
                "ready",
                "live",
                "infer",
                "predict",
                "churn",
                "versions",
                "1",
                "openapi.json",
            ]
        )
        | st.text(alphabet=string.ascii_letters + string.digits + "-._~%:@!$&'()*+,;=", max_size=6),
        max_size=6,
    ).map(lambda parts: "/" + "/".join(parts)),
    body=st.none() | st.text(max_size=30) | json_values.map(json.dumps),
)
def test_any_route_and_method(stack: InferenceStack, method: str, path: str, body: str | None) -> None:
    send(stack, method, path, body)


@FUZZ
@given(raw=st.binary(max_size=64) | st.text(max_size=64))
def test_any_bytes_as_a_body(stack: InferenceStack, raw: bytes | str) -> None:
    import base64

    event = load_event("inference/predict_records")
    if isinstance(raw, bytes):
        event.update(body=base64.b64encode(raw).decode(), isBase64Encoded=True)
    else:
        event.update(body=raw)
    check(stack(event), event["path"])
    event["path"] = "/v2/models/churn/infer"
    check(stack(event), event["path"])
