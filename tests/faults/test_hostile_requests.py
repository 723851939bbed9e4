"""A hostile request to each route: a 4xx in the routes' error schema naming the problem, the same
``error.code`` from the function and from the gateway, and the API serving the next good request.

Before: a body over 10 MB got ``{"message": "Request Too Long"}`` locally and ``REQUEST_TOO_LARGE`` from
the deployed gateway while the function said ``payload_too_large``; v2 tensors contradicting their
datatype (INT8 1000, UINT8 -5, INT64 2.7, BOOL 5.1, FP32 holding a string) were accepted; 32 clients
connecting at once got connection resets (a listen backlog of 5).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mlops.local.http_api import base_url, make_api_server
from tests.faults.conftest import assert_one_sentence
from tests.integration.inference_fixtures import InferenceStack, Trained, inference_stack, train_churn
from tests.integration.test_inference_http import churn_rows, request
from tests.servers import serving

CLIENTS = 32


@pytest.fixture(scope="module")
def churn() -> Trained:
    return train_churn()


@pytest.fixture(scope="module")
def stack(churn: Trained) -> Iterator[InferenceStack]:
    with inference_stack() as running:
        running.publish("churn", churn)
        yield running


@pytest.fixture(scope="module")
def url(stack: InferenceStack) -> Iterator[str]:
    with serving(make_api_server("127.0.0.1", 0, stack.module.handler)) as running:
        yield running


def _still_serves(url: str, churn: Trained) -> None:
    status, _, raw = request(url, "POST", "/models/churn/predict", {"records": churn_rows(churn, 2)})
    assert status == 200, raw
    assert len(json.loads(raw)["predictions"]) == 2


def _v2_body(churn: Trained, name: str, datatype: str, value: Any) -> dict[str, Any]:
    rows = churn_rows(churn, 1)
    inputs = []
    for spec in churn.signature.features:
        numeric = spec.kind == "numeric"
        inputs.append(
            {
                "name": spec.name,
                "shape": [1, 1],
                "datatype": "FP64" if numeric else "BYTES",
                "data": [[rows[0][spec.name]]],
            }
        )
    tensor = next(t for t in inputs if t["name"] == name)
    tensor.update(datatype=datatype, data=[[value]])
    return {"inputs": inputs}


@pytest.mark.parametrize(
    ("datatype", "value"),
    [("INT8", 1000), ("UINT8", -5), ("INT64", 2.7), ("BOOL", 5.1), ("FP32", "twelve")],
)
def test_a_tensor_contradicting_its_datatype_is_400(
    url: str, churn: Trained, datatype: str, value: Any
) -> None:
    body = _v2_body(churn, "tenure", datatype, value)
    status, _, raw = request(url, "POST", "/v2/models/churn/infer", body)
    assert status == 400, raw
    message = json.loads(raw)["error"]
    assert_one_sentence(message)
    assert f"'tenure' is {datatype}" in message
    fine = _v2_body(churn, "tenure", "INT64", 12)
    assert request(url, "POST", "/v2/models/churn/infer", fine)[0] == 200
    _still_serves(url, churn)


def test_too_large_says_payload_too_large_from_the_function_and_the_gateway(url: str, churn: Trained) -> None:
    row = churn_rows(churn, 1)[0]
    over_function = {"records": [row] * 1, "padding": "x" * (7 * 1024 * 1024)}  # past the 6 MiB limit
    over_gateway = {"records": [row], "padding": "x" * (11 * 1024 * 1024)}  # past API Gateway's 10 MB
    for body in (over_function, over_gateway):
        status, _, raw = request(url, "POST", "/models/churn/predict", body)
        assert status == 413, raw[:200]
        error = json.loads(raw)["error"]
        assert error["code"] == "payload_too_large"
        assert_one_sentence(error["message"])
    _still_serves(url, churn)


def test_32_clients_connecting_at_once_are_all_answered(stack: InferenceStack, churn: Trained) -> None:
    server = make_api_server("127.0.0.1", 0, stack.module.handler)
    host, port = base_url(server).removeprefix("http://").split(":")
    # Every client connects before the server accepts any: the listen backlog alone must hold them
    # (a connection it cannot hold is dropped, and the client times out or is reset).
    sockets = [socket.create_connection((host, int(port)), timeout=2) for _ in range(CLIENTS)]
    request_line = b"GET /v2/health/ready HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n"

    def ask(connection: socket.socket) -> bytes:
        with connection:
            connection.sendall(request_line)
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)

    with serving(server) as url, ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        answers = list(pool.map(ask, sockets))
        assert all(answer.startswith(b"HTTP/1.1 200") for answer in answers)
        _still_serves(url, churn)


def test_an_answer_past_the_functions_timeout_is_the_gateways_504(url: str, churn: Trained) -> None:
    """The gateway stops waiting at the function's timeout: the local server answers as it does."""

    def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
        time.sleep(0.2)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}

    with serving(make_api_server("127.0.0.1", 0, slow, timeout_s=0.05)) as slow_url:
        status, headers, raw = request(slow_url, "GET", "/v2/health/ready")
    assert status == 504 and headers.get("x-amzn-ErrorType") == "INTEGRATION_TIMEOUT"
    error = json.loads(raw)["error"]
    assert error["code"] == "timeout"
    assert_one_sentence(error["message"])
    _still_serves(url, churn)
