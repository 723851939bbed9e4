"""The inference API over HTTP on a local port, as ``mlops local up`` serves it: a stock Open Inference
Protocol client (tritonclient) and plain HTTP clients against the real handler."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from mlops.local.http_api import make_api_server
from tests.integration.inference_fixtures import (
    InferenceStack,
    Trained,
    inference_stack,
    train_churn,
    train_diabetes,
)
from tests.servers import serving


@pytest.fixture(scope="module")
def models() -> dict[str, Trained]:
    return {"churn": train_churn(), "diabetes": train_diabetes()}


@pytest.fixture(scope="module")
def stack(models: dict[str, Trained]) -> Iterator[InferenceStack]:
    with inference_stack() as running:
        for name, model in models.items():
            running.publish(name, model)
        yield running


@pytest.fixture(scope="module")
def url(stack: InferenceStack) -> Iterator[str]:
    with serving(make_api_server("127.0.0.1", 0, stack.module.handler)) as running:
        yield running


def request(
    url: str, method: str, path: str, payload: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(payload).encode() if payload is not None else None
    sent = urllib.request.Request(
        url + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(sent, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def churn_rows(model: Trained, n: int) -> list[dict[str, Any]]:
    features = [f.name for f in model.signature.features]
    frame = model.frame[features].head(n)
    rows: list[dict[str, Any]] = json.loads(frame.to_json(orient="records"))
    return rows


def test_tritonclient_predicts_what_the_predict_route_predicts(url: str, models: dict[str, Trained]) -> None:
    churn = models["churn"]
    rows = churn_rows(churn, 16)
    status, _, raw = request(url, "POST", "/models/churn/predict", {"records": rows})
    assert status == 200
    expected = json.loads(raw)

    client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("churn")
    metadata = client.get_model_metadata("churn")
    assert metadata["platform"] == "onnxruntime"
    inputs = []
    for tensor in metadata["inputs"]:
        values = [row[tensor["name"]] for row in rows]
        if tensor["datatype"] == "BYTES":
            array = np.array([["" if v is None else v] for v in values], dtype=object)
        else:
            array = np.array([[np.nan if v is None else v] for v in values], dtype=np.float32)
        infer_input = triton.InferInput(tensor["name"], list(array.shape), tensor["datatype"])
        infer_input.set_data_from_numpy(array, binary_data=False)
        inputs.append(infer_input)
    outputs = [
        triton.InferRequestedOutput(name, binary_data=False) for name in ("predictions", "probabilities")
    ]
    result = client.infer("churn", inputs, outputs=outputs)
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predictions").tolist()]
    assert labels == expected["predictions"]
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected["probabilities"], atol=1e-6)
    client.close()


def test_tritonclient_sends_an_all_numeric_batch_as_one_matrix(url: str, models: dict[str, Trained]) -> None:
    diabetes = models["diabetes"]
    features = [f.name for f in diabetes.signature.features]
    matrix = diabetes.frame[features].head(5).to_numpy(np.float32)
    client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    infer_input = triton.InferInput("input", list(matrix.shape), "FP32")
    infer_input.set_data_from_numpy(matrix, binary_data=False)
    result = client.infer(
        "diabetes", [infer_input], outputs=[triton.InferRequestedOutput("predictions", binary_data=False)]
    )
    status, _, raw = request(url, "POST", "/models/diabetes/predict", {"instances": matrix.tolist()})
    assert status == 200
    np.testing.assert_allclose(result.as_numpy("predictions"), json.loads(raw)["predictions"], rtol=1e-6)
    with pytest.raises(InferenceServerException, match="No model named 'nope'"):
        client.infer("nope", [infer_input])
    client.close()


def test_http_behaviours(url: str) -> None:
    status, headers, raw = request(url, "GET", "/v2/health/ready")
    assert (status, json.loads(raw)) == (200, {"ready": True})
    assert headers["Content-Type"] == "application/json"
    assert headers["x-amzn-RequestId"]
    status, headers, raw = request(url, "PUT", "/models/churn/predict", {"records": []})
    assert (status, headers["Allow"], json.loads(raw)["error"]["code"]) == (405, "POST", "method_not_allowed")
    status, _, raw = request(url, "GET", "/no/such/route?x=1")
    assert (status, json.loads(raw)["error"]["code"]) == (404, "not_found")
    status, _, raw = request(url, "HEAD", "/v2/health/live")
    assert (status, raw) == (405, b"")
    status, _, raw = request(url, "GET", "/openapi.json")
    assert status == 200 and "/models/{name}/predict" in json.loads(raw)["paths"]


def test_chunked_and_binary_bodies_reach_the_handler(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    payload = json.dumps({"records": [{"tenure": 3}]}).encode()
    connection.request(
        "POST",
        "/models/churn/predict",
        body=iter([payload[:10], payload[10:]]),
        headers={"Content-Type": "application/json"},
        encode_chunked=True,
    )
    answer = connection.getresponse()
    assert (answer.status, json.loads(answer.read())["error"]["message"]) == (
        400,
        "Row 0 is missing feature(s) 'contract', 'monthly_charges', 'payment_method', 'senior', 'total_charges'.",
    )
    connection.request(
        "POST",
        "/models/churn/predict",
        body=b"\xff\xfe{",
        headers={"Content-Type": "application/octet-stream"},
    )
    answer = connection.getresponse()
    assert (answer.status, json.loads(answer.read())["error"]["code"]) == (400, "invalid_input")
    connection.close()


def test_a_failing_handler_is_the_gateways_502_in_the_error_schema() -> None:
    def broken(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    with serving(make_api_server("127.0.0.1", 0, broken)) as url:
        status, _, raw = request(url, "GET", "/v2/health/live")
        assert status == 502 and json.loads(raw)["error"]["code"] == "internal_error"
