"""The HTTP API: Powertools' REST resolver with the routes of the contract (CONTRACT.md §4).

Routing, the OpenAPI document and the mapping of exceptions to responses are Powertools'. Request
validation is Powertools' on the metadata routes; the two inference routes (``POST .../predict`` and
``POST .../infer``) parse their bodies themselves (their pydantic models still document them), because
Powertools' validation middleware costs about 75 µs per request, more than the model itself on one
row, and a second pass over every row of large batches. Nothing a client sends yields a 5xx: every
failure maps to a JSON 4xx, except 503 while a model cannot serve and 500 for a genuine bug.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from botocore.exceptions import BotoCoreError, ClientError

from mlops import __version__
from mlops.observability import logger
from mlops.serving import telemetry, v2
from mlops.serving.errors import MethodNotAllowed, ModelNotFound, RouteNotFound, ServingError
from mlops.serving.models import LoadedModel
from mlops.serving.schema import (
    ErrorResponse,
    ModelDocument,
    PredictRequest,
    PredictResponse,
    V2Error,
    V2InferRequest,
    V2InferResponse,
    V2Live,
    V2ModelMetadata,
    V2ModelReady,
    V2Ready,
    V2ServerMetadata,
)
from mlops.serving.service import InferenceService, model_document

JSON = "application/json"
# No length limits here: API Gateway hands over the path percent-encoded, so a limit would apply to
# the encoded text; the model store answers names no model can have with a 404.
ModelName = Annotated[str, Path(description="The model's name (its dataset's name).")]
ModelVersionParam = Annotated[str, Path(description="A model version number.")]
PredictBody = Annotated[PredictRequest | None, Body(description="The rows to predict.")]
V2Body = Annotated[V2InferRequest | None, Body(description="Input tensors named after the features.")]
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def _responses(
    ok: type | None, errors: dict[int, str], v2_errors: bool = False
) -> dict[int, OpenAPIResponse]:
    error_model = V2Error if v2_errors else ErrorResponse
    out: dict[int, OpenAPIResponse] = {}
    if ok is not None:
        out[200] = {"description": "OK", "content": {JSON: {"model": ok}}}
    for status, description in errors.items():
        out[status] = {"description": description, "content": {JSON: {"model": error_model}}}
    return out


_BAD = "Malformed or invalid input: bad JSON, a missing or unknown feature, a wrong type, an empty batch."
_UNKNOWN = "No model with this name."
_TOO_LARGE = "More rows or bytes than one request may carry."
_NOT_READY = "The model has no production version yet, or it cannot be loaded."


def request_id_of(event: dict[str, Any], context: Any) -> str:
    """API Gateway's request id (what clients see in ``x-amzn-RequestId``), else the invocation's."""
    request_context = event.get("requestContext")
    given = request_context.get("requestId") if isinstance(request_context, dict) else None
    return str(given or getattr(context, "aws_request_id", "") or "")


def _is_v2(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


def _json(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[Any]:
    body = document if isinstance(document, str) else _dumps(document)
    return Response(status_code=status, content_type=JSON, body=body, headers=headers)


def create_app(service: InferenceService) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)
    methods_by_rule: dict[str, set[str]] = {}

    def route(method: str, rule: str, **options: Any) -> Callable[[Any], Any]:
        methods_by_rule.setdefault(rule, set()).add(method)
        return app.route(rule, method, **options)

    def error_response(
        status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> Response[Any]:
        telemetry.error(code, status)
        if _is_v2(app.current_event.path or ""):
            return _json({"error": message}, status, headers)
        return _json({"error": {"code": code, "message": message}}, status, headers)

    def request_id() -> str:
        return request_id_of(app.current_event.raw_event, app.lambda_context)

    # ---- the project's routes ----------------------------------------------------------------

    @route(
        "POST",
        "/models/<name>/predict",
        enable_validation=False,
        summary="Predict with the production model",
        description="Body: exactly one of records, instances (signature order) or dataframe_split (MLflow).",
        tags=["models"],
        responses=_responses(PredictResponse, {400: _BAD, 404: _UNKNOWN, 413: _TOO_LARGE, 503: _NOT_READY}),
    )
    def predict(
        name: ModelName,
        body: PredictBody = None,
    ) -> Response[Any]:
        event = app.current_event
        text, headers = service.predict_routed(
            unquote(name),
            event.body,
            bool(event.is_base64_encoded),
            request_id(),
            event.get_header_value("x-routing-key", case_sensitive=False),
        )
        return _json(text, headers=headers)

    @route(
        "GET",
        "/models/<name>",
        summary="The production model's metadata",
        description="Version, feature signature (names, types, allowed categories), classes, metrics.",
        tags=["models"],
        responses=_responses(ModelDocument, {404: _UNKNOWN, 503: _NOT_READY}),
    )
    def get_model(name: ModelName) -> Response[Any]:
        return _json(model_document(service.model(unquote(name))))

    # ---- Open Inference Protocol (KServe v2), JSON form ----------------------------------------

    @route(
        "GET",
        "/v2",
        summary="Server metadata",
        tags=["open inference protocol"],
        responses=_responses(V2ServerMetadata, {}, v2_errors=True),
    )
    def server_metadata() -> Response[Any]:
        return _json(v2.server_metadata())

    @route(
        "GET",
        "/v2/health/live",
        summary="Liveness",
        tags=["open inference protocol"],
        responses=_responses(V2Live, {}, v2_errors=True),
    )
    def live() -> Response[Any]:
        return _json({"live": True})

    @route(
        "GET",
        "/v2/health/ready",
        summary="Readiness: the function is initialised and can serve (each model: its own ready route)",
        tags=["open inference protocol"],
        responses=_responses(V2Ready, {}, v2_errors=True),
    )
    def ready() -> Response[Any]:
        return _json({"ready": True})

    def served(name: str, version: str | None) -> LoadedModel:
        # REST API events carry the path percent-encoded, and the route parameters come from it.
        model = service.model(unquote(name))
        if version is not None and unquote(version) != str(model.version):
            raise ModelNotFound(
                f"Model '{model.name}' version {unquote(version)} is not served; the production version "
                f"is {model.version}."
            )
        return model

    v2_metadata_responses = _responses(V2ModelMetadata, {404: _UNKNOWN, 503: _NOT_READY}, True)
    v2_ready_responses = _responses(V2ModelReady, {404: _UNKNOWN, 503: _NOT_READY}, True)
    v2_infer_responses = _responses(
        V2InferResponse, {400: _BAD, 404: _UNKNOWN, 413: _TOO_LARGE, 503: _NOT_READY}, True
    )

    @route(
        "GET",
        "/v2/models/<name>",
        summary="Model metadata",
        tags=["open inference protocol"],
        responses=v2_metadata_responses,
    )
    def v2_model(name: ModelName) -> Response[Any]:
        return _json(v2.model_metadata(served(name, None)))

    @route(
        "GET",
        "/v2/models/<name>/versions/<version>",
        summary="Model metadata (the production version only)",
        tags=["open inference protocol"],
        responses=v2_metadata_responses,
    )
    def v2_model_version(name: ModelName, version: ModelVersionParam) -> Response[Any]:
        return _json(v2.model_metadata(served(name, version)))

    @route(
        "GET",
        "/v2/models/<name>/ready",
        summary="Model readiness",
        tags=["open inference protocol"],
        responses=v2_ready_responses,
    )
    def v2_model_ready(name: ModelName) -> Response[Any]:
        return _json({"name": served(name, None).name, "ready": True})

    @route(
        "GET",
        "/v2/models/<name>/versions/<version>/ready",
        summary="Model readiness (the production version only)",
        tags=["open inference protocol"],
        responses=v2_ready_responses,
    )
    def v2_model_version_ready(name: ModelName, version: ModelVersionParam) -> Response[Any]:
        return _json({"name": served(name, version).name, "ready": True})

    @route(
        "POST",
        "/v2/models/<name>/infer",
        enable_validation=False,
        summary="Inference",
        tags=["open inference protocol"],
        responses=v2_infer_responses,
    )
    def v2_infer(name: ModelName, body: V2Body = None) -> Response[Any]:
        event = app.current_event
        return _json(service.infer(unquote(name), event.body, bool(event.is_base64_encoded), request_id()))

    @route(
        "POST",
        "/v2/models/<name>/versions/<version>/infer",
        enable_validation=False,
        summary="Inference (the production version only)",
        tags=["open inference protocol"],
        responses=v2_infer_responses,
    )
    def v2_infer_version(name: ModelName, version: ModelVersionParam, body: V2Body = None) -> Response[Any]:
        served(name, version)
        event = app.current_event
        return _json(service.infer(unquote(name), event.body, bool(event.is_base64_encoded), request_id()))

    # ---- the API's own description --------------------------------------------------------------

    openapi: list[str] = []

    @route("GET", "/openapi.json", summary="This API's OpenAPI document", tags=["meta"])
    def openapi_document() -> Response[Any]:
        if not openapi:
            openapi.append(_openapi(app))
        return _json(openapi[0])

    # ---- errors ---------------------------------------------------------------------------------

    patterns = [
        (re.compile("^" + re.sub(r"<\w+>", "[^/]+", rule) + "/*$"), methods)
        for rule, methods in methods_by_rule.items()
    ]

    @app.not_found
    def not_found(_: NotFoundError) -> Response[Any]:
        event = app.current_event
        path, method = event.path or "", (event.http_method or "").upper()
        for pattern, methods in patterns:
            if pattern.match(path):
                allowed = ", ".join(sorted(methods))
                error: ServingError = MethodNotAllowed(f"{method} is not allowed on {path}; use {allowed}.")
                return error_response(error.status, error.code, error.message, {"Allow": allowed})
        error = RouteNotFound(f"No route {method} {path}; see GET /openapi.json.")
        return error_response(error.status, error.code, error.message)

    @app.exception_handler(ServingError)
    def serving_error(error: ServingError) -> Response[Any]:
        return error_response(error.status, error.code, error.message, error.headers or None)

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response[Any]:
        return error_response(400, "invalid_input", _validation_message(error))

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response[Any]:
        if isinstance(error, BotoCoreError | ClientError):
            logger.exception("An AWS dependency failed while serving a request")
            return error_response(
                503,
                "service_unavailable",
                "A storage dependency of the model is unavailable; retry shortly.",
                {"Retry-After": "1"},
            )
        logger.exception("Unexpected error while serving a request")
        return error_response(
            500, "internal_error", "The request failed unexpectedly; see the function's logs."
        )

    return app


def _validation_message(error: RequestValidationError) -> str:
    problems = error.errors()
    if not problems:
        return "The request is invalid."
    first = problems[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "path")
    what = str(first.get("msg") or first.get("type") or "is invalid").rstrip(".")
    return f"Invalid {where or 'request'}: {what}."


def _require_body(operation: dict[str, Any]) -> None:
    """The inference routes declare their body optional (they parse it themselves, see the module
    docstring); the document says what they need: a required body of the declared model."""
    body = operation.get("requestBody")
    if not body:
        return
    for media in body.get("content", {}).values():
        schema = media.get("schema", {})
        refs = [option for option in schema.get("anyOf", []) if "$ref" in option]
        if len(refs) == 1 and len(schema["anyOf"]) == 2 and {"type": "null"} in schema["anyOf"]:
            media["schema"] = {"$ref": refs[0]["$ref"], "description": schema.get("description", "")}
    body["required"] = True


def _openapi(app: APIGatewayRestResolver) -> str:
    """Powertools' document, with its 422 answers removed (validation failures here are 400s in the
    contract's error shape) and the inference routes' bodies marked required."""
    document = json.loads(
        app.get_openapi_json_schema(
            title="mlops inference API",
            version=__version__,
            description="Predictions from each dataset's production model: the project's JSON routes "
            "and the Open Inference Protocol (KServe v2, JSON).",
        )
    )
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
            _require_body(operation)
    schemas = document.get("components", {}).get("schemas", {})
    powertools_only = {"HTTPValidationError", "ValidationError", "ResponseValidationError"}
    kept = {name: schema for name, schema in schemas.items() if name not in powertools_only}
    referenced = json.dumps({"paths": document.get("paths", {}), "schemas": kept})
    for name in powertools_only:
        if f'#/components/schemas/{name}"' not in referenced:
            schemas.pop(name, None)
    return _dumps(document)
