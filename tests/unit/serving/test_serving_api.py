"""The HTTP API over an in-memory registry: every route, every error shape, the OpenAPI document."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any, cast

import numpy as np
import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from botocore.exceptions import ClientError

from mlops.entities import Alias
from mlops.errors import DependencyUnavailable
from mlops.local.context import LocalContext
from mlops.observability import metrics
from mlops.registry.models import ModelStore as ModelRecords
from mlops.serving.api import create_app, routing_key
from mlops.serving.capture_writer import Capture
from mlops.serving.model_store import ModelStore, RegistrySource
from mlops.serving.service import InferenceService, Limits
from mlops.signature_types import BULK_MIN_BODY_BYTES
from mlops.storage import Storage
from tests.events import load_event
from tests.integration.inference_fixtures import Trained
from tests.unit.serving.serving_testdata import MemorySink, MemorySource, first_rows

CONTEXT: Any = LocalContext(function_name="mlops-inference")


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def app(source: MemorySource, sink: MemorySink, churn: Trained, diabetes: Trained) -> APIGatewayRestResolver:
    source.publish("churn", churn)
    source.publish("diabetes", diabetes)
    source.publish("draft", churn, promote=False)
    service = InferenceService(
        ModelStore(source, 60), Capture(sink, 1.0), Limits(max_batch_rows=50, max_payload_bytes=20_000)
    )
    return create_app(service)


def call(app: APIGatewayRestResolver, name: str, **changes: Any) -> tuple[int, Any, dict[str, Any]]:
    event = copy.deepcopy(load_event(f"inference/{name}"))
    body = changes.pop("json", None)
    if body is not None:
        event["body"] = json.dumps(body)
    event.update(changes)
    response = app.resolve(event, CONTEXT)
    headers = {k: v[0] for k, v in response["multiValueHeaders"].items()}
    assert headers["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"]), headers


def test_the_three_predict_formats_answer_alike(app: APIGatewayRestResolver) -> None:
    answers = [call(app, f"predict_{form}") for form in ("records", "instances", "dataframe_split")]
    for status, document, _ in answers:
        assert status == 200
        assert document == answers[0][1]
    document = answers[0][1]
    assert document["model"] == "churn"
    assert document["version"] == 1
    assert len(document["predictions"]) == 2
    assert set(document["predictions"]) <= {"no", "yes"}
    assert all(abs(sum(p) - 1) < 1e-5 for p in document["probabilities"])
    assert "unseen_categories" not in document


def test_predict_reports_unseen_categories_and_captures_the_request(
    app: APIGatewayRestResolver, sink: MemorySink
) -> None:
    body = json.loads(load_event("inference/predict_records")["body"])
    body["records"][0]["contract"] = "ten-year"
    status, document, _ = call(app, "predict_records", json=body)
    assert status == 200
    assert document["unseen_categories"] == {"contract": ["ten-year"]}
    lines = [json.loads(line) for line in sink.lines()]
    assert [line["row"] for line in lines] == [0, 1]
    assert lines[0]["request_id"] == load_event("inference/predict_records")["requestContext"]["requestId"]
    assert lines[0]["features"]["contract"] == "ten-year"
    assert lines[0]["prediction"] == document["predictions"][0]
    assert lines[0]["probabilities"] == document["probabilities"][0]


def test_a_base64_body_is_read(app: APIGatewayRestResolver) -> None:
    event = load_event("inference/predict_records")
    encoded = base64.b64encode(event["body"].encode()).decode()
    status, document, _ = call(app, "predict_records", body=encoded, isBase64Encoded=True)
    assert status == 200
    assert document == call(app, "predict_records")[1]


def test_model_metadata(app: APIGatewayRestResolver, churn: Trained) -> None:
    status, document, _ = call(app, "model_metadata")
    assert status == 200
    assert document["version"] == 1
    assert document["task"] == "classification"
    assert document["classes"] == ["no", "yes"]
    contract = next(f for f in document["features"] if f["name"] == "contract")
    assert contract == {
        "name": "contract",
        "kind": "categorical",
        "dtype": "string",
        "nullable": True,
        "categories": ["month-to-month", "one-year", "two-year"],
    }
    assert document["metrics"] == churn.metrics
    assert document["trained_at"]


def test_open_inference_protocol_routes(app: APIGatewayRestResolver) -> None:
    assert call(app, "health")[:2] == (200, {"ready": True})
    assert call(app, "health", path="/v2/health/live")[:2] == (200, {"live": True})
    assert call(app, "health", path="/v2")[1]["name"] == "mlops-inference"
    assert call(app, "v2_model_ready")[:2] == (200, {"name": "churn", "ready": True})
    status, metadata, _ = call(app, "v2_model_metadata")
    assert status == 200
    assert metadata["name"] == "churn"
    assert call(app, "v2_model_metadata", path="/v2/models/churn/versions/1")[1] == metadata
    status, answer, _ = call(app, "v2_infer")
    assert status == 200
    assert answer["id"] == "req-1"
    assert answer["outputs"][0]["data"] == call(app, "predict_records")[1]["predictions"]
    versioned = call(app, "v2_infer", path="/v2/models/churn/versions/1/infer")
    assert versioned[1]["outputs"] == answer["outputs"]


@pytest.mark.parametrize(
    ("event", "changes", "status", "code"),
    [
        ("predict_records", {"path": "/models/nope/predict"}, 404, "model_not_found"),
        ("model_metadata", {"path": "/models/nope"}, 404, "model_not_found"),
        ("predict_records", {"path": "/models/draft/predict"}, 503, "no_production_model"),
        ("predict_records", {"body": '{"records": ['}, 400, "invalid_input"),
        ("predict_records", {"body": None}, 400, "invalid_input"),
        ("predict_records", {"body": "not base64!", "isBase64Encoded": True}, 400, "invalid_input"),
        ("predict_records", {"json": {"records": [{"tenure": 1}]}}, 400, "invalid_input"),
        (
            "predict_records",
            {"json": {"instances": [[1, 2, 3, "a", "b", True]] * 51}},
            413,
            "payload_too_large",
        ),
        ("predict_records", {"json": {"records": [], "pad": "x" * 20_001}}, 413, "payload_too_large"),
        ("model_metadata", {"path": "/models/" + "m" * 2000}, 404, "model_not_found"),
        ("model_metadata", {"path": "/models/%ED%A0%80"}, 404, "model_not_found"),
        ("health", {"path": "/predict"}, 404, "not_found"),
        ("health", {"path": "/models/churn/predict"}, 405, "method_not_allowed"),
        ("predict_records", {"httpMethod": "DELETE", "path": "/models/churn"}, 405, "method_not_allowed"),
    ],
)
def test_errors_on_the_models_routes(
    app: APIGatewayRestResolver, event: str, changes: dict[str, Any], status: int, code: str
) -> None:
    got, document, headers = call(app, event, **changes)
    assert got == status
    assert set(document) == {"error"}
    assert document["error"]["code"] == code
    assert document["error"]["message"].endswith(".")
    if status == 405:
        assert headers["Allow"] in {"POST", "GET"}


@pytest.mark.parametrize(
    ("event", "changes", "status"),
    [
        ("v2_infer", {"path": "/v2/models/nope/infer"}, 404),
        ("v2_infer", {"path": "/v2/models/draft/infer"}, 503),
        ("v2_infer", {"json": {"inputs": "x"}}, 400),
        ("v2_infer", {"body": "[1, 2"}, 400),
        ("v2_model_metadata", {"path": "/v2/models/churn/versions/2"}, 404),
        ("v2_model_ready", {"path": "/v2/models/draft/ready"}, 503),
        ("health", {"path": "/v2/repository/index"}, 404),
        ("health", {"httpMethod": "POST"}, 405),
    ],
)
def test_errors_on_the_v2_routes_use_the_protocol_shape(
    app: APIGatewayRestResolver, event: str, changes: dict[str, Any], status: int
) -> None:
    got, document, _ = call(app, event, **changes)
    assert got == status
    assert set(document) == {"error"}
    assert isinstance(document["error"], str)


def test_a_failing_aws_dependency_is_503_and_a_bug_is_500(source: MemorySource, churn: Trained) -> None:
    class Failing(MemorySource):
        def __init__(self, error: Exception) -> None:
            super().__init__()
            self.error = error

        def production_alias(self, name: str) -> Alias | None:
            raise self.error

    for error, status, code in (
        (DependencyUnavailable("DynamoDB is unavailable; retry shortly."), 503, "service_unavailable"),
        (RuntimeError("bug"), 500, "internal_error"),
    ):
        service = InferenceService(ModelStore(Failing(error), 60), Capture(None, 0), Limits(10, 10_000))
        got, document, _ = call(create_app(service), "predict_records")
        assert (got, document["error"]["code"]) == (status, code)
        metrics.clear_metrics()  # the handler flushes after each invocation


def test_the_openapi_document(app: APIGatewayRestResolver) -> None:
    status, document, _ = call(app, "openapi")
    assert status == 200
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert {
        "/models/{name}/predict",
        "/models/{name}",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{name}",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/infer",
        "/openapi.json",
    } <= set(paths)
    predict = paths["/models/{name}/predict"]["post"]
    assert predict["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/PredictRequest")
    assert set(predict["responses"]) == {"200", "400", "404", "413", "503"}
    assert all("422" not in op["responses"] for ops in paths.values() for op in ops.values())
    schemas = document["components"]["schemas"]
    assert {"PredictRequest", "PredictResponse", "ErrorResponse", "V2InferRequest", "V2Error"} <= set(schemas)
    assert "HTTPValidationError" not in schemas


def test_the_registry_source_says_a_throttled_table_is_unavailable(churn: Trained) -> None:
    class ThrottledRecords:
        def alias_document(self, name: str, consistent: bool = True) -> str | None:
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, "GetItem"
            )

    source = RegistrySource(cast(ModelRecords, ThrottledRecords()), Storage())
    with pytest.raises(DependencyUnavailable, match="DynamoDB is unavailable"):
        source.production_alias("churn")
    service = InferenceService(ModelStore(source, 60), Capture(None, 0), Limits(10, 10_000))
    got, document, _ = call(create_app(service), "predict_records")
    assert (got, document["error"]["code"]) == (503, "service_unavailable")
    metrics.clear_metrics()


@pytest.mark.parametrize("name", ["X-Routing-Key", "x-routing-key", "X-ROUTING-KEY"])
def test_the_routing_key_is_read_in_any_case(name: str) -> None:
    assert routing_key({"headers": {"Accept": "*/*", name: "user-7"}}) == "user-7"


def test_no_routing_key_header_is_none() -> None:
    assert routing_key({"headers": {"X-Routing": "x", "Routing-Key": "y"}}) is None
    assert routing_key({"headers": None}) is None


def test_probabilities_are_written_as_the_model_computed_them(app: APIGatewayRestResolver) -> None:
    # The model's float32 probabilities, widened to float64 as Python floats are: each value read
    # back is exactly a float32 (float32's shortest form, such as 0.7, would read back as another number).
    status, document, _ = call(app, "predict_records")
    assert status == 200
    values = [value for row in document["probabilities"] for value in row]
    assert values and all(float(np.float32(value)) == value for value in values)


# ---- large bodies (decoded straight into columns) -----------------------------------------------


@pytest.fixture
def large_app(source: MemorySource, churn: Trained, churn_forest: Trained) -> APIGatewayRestResolver:
    source.publish("churn", churn)
    source.publish("forest", churn_forest)
    limits = Limits(max_batch_rows=10_000, max_payload_bytes=6 * 1024 * 1024)
    return create_app(InferenceService(ModelStore(source, 60), Capture(None, 0), limits))


def large_rows(model: Trained, n: int) -> list[dict[str, Any]]:
    rows = first_rows(model, 200)
    return [rows[i % len(rows)] for i in range(n)]


@pytest.mark.parametrize("name", ["churn", "forest"])
def test_a_large_records_body_answers_as_its_rows_do_in_small_bodies(
    large_app: APIGatewayRestResolver, churn: Trained, name: str
) -> None:
    rows = large_rows(churn, 1200)
    body = json.dumps({"records": rows})
    assert len(body) >= BULK_MIN_BODY_BYTES
    status, whole, _ = call(large_app, "predict_records", path=f"/models/{name}/predict", body=body)
    assert status == 200
    parts = [
        call(
            large_app, "predict_records", path=f"/models/{name}/predict", json={"records": rows[i : i + 100]}
        )[1]
        for i in range(0, len(rows), 100)
    ]
    assert whole["predictions"] == [p for part in parts for p in part["predictions"]]
    np.testing.assert_allclose(
        whole["probabilities"], [p for part in parts for p in part["probabilities"]], rtol=1e-6
    )


def test_a_large_body_is_refused_as_a_small_one_is(large_app: APIGatewayRestResolver, churn: Trained) -> None:
    rows = large_rows(churn, 1200)
    rows[1100] = {**rows[1100], "tenure": "12"}
    status, document, _ = call(large_app, "predict_records", json={"records": rows})
    assert status == 400
    assert document["error"]["message"] == (
        "Feature 'tenure' in row 1100 must be a number (or null), got the string '12'."
    )
    body = json.dumps({"records": large_rows(churn, 1200)})
    status, document, _ = call(large_app, "predict_records", body=body[:-2] + ",]}")
    assert (status, document["error"]["code"]) == (400, "invalid_input")
    assert document["error"]["message"].startswith("The request body is not valid JSON")
    status, document, _ = call(
        large_app, "predict_records", body=json.dumps({"records": large_rows(churn, 10_001)})
    )
    assert (status, document["error"]["code"]) == (413, "payload_too_large")


def test_the_model_is_looked_up_before_the_body_is_parsed(app: APIGatewayRestResolver) -> None:
    for event, path in (("predict_records", "/models/nope/predict"), ("v2_infer", "/v2/models/nope/infer")):
        status, _, _ = call(app, event, path=path, body="{not json")
        assert status == 404
