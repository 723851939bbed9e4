"""The HTTP API: Powertools' REST resolver with the routes of docs/inference.md.

Routing and the mapping of exceptions to responses are Powertools'; the OpenAPI document is Powertools'
too, built by ``mlops.serving.openapi`` when ``GET /openapi.json`` is first requested. The serving
resolver runs without Powertools' validation middleware: the two inference routes (``POST .../predict``
and ``POST .../infer``) parse their bodies themselves (their pydantic models still document them),
because the middleware costs more than the model itself on one row (docs/performance.md), and a
second pass over every row of large batches; the other routes take only path parameters, which are
plain strings. Importing the validation and OpenAPI machinery and building the document models would
cost the cold start of every container (bench/bench_inference.py); only the document needs them.
Nothing a client sends yields a 5xx: every failure maps to a JSON 4xx, except 503 while a model
cannot serve and 500 for a genuine bug.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from mlops.errors import DependencyUnavailable
from mlops.observability import logger
from mlops.serving import telemetry, v2
from mlops.serving.errors import MethodNotAllowed, ModelNotFound, RouteNotFound, ServingError
from mlops.serving.model_store import LoadedModel
from mlops.serving.service import InferenceService, model_document

if TYPE_CHECKING:
    # Route annotations, evaluated only when the OpenAPI document is built (mlops.serving.openapi).
    from mlops.serving.openapi import ModelName, ModelVersionParam, PredictBody, V2Body

JSON = "application/json"
_dumps = json.JSONEncoder(separators=(",", ":")).encode

_BAD = "Malformed or invalid input: bad JSON, a missing or unknown feature, a wrong type, an empty batch."
_UNKNOWN = "No model with this name."
_TOO_LARGE = "More rows or bytes than one request may carry."
_NOT_READY = "The model has no production version yet, or it cannot be loaded."


@dataclass(frozen=True)
class RouteDoc:
    """What the OpenAPI document says of a route; ``ok`` names the 200 answer's model in
    ``mlops.serving.schema``, and errors answer in the v2 error shape when ``v2_errors``."""

    summary: str
    tags: list[str]
    ok: str | None = None
    errors: dict[int, str] = field(default_factory=dict)
    v2_errors: bool = False
    description: str | None = None
    validated: bool = True


@dataclass(frozen=True)
class DocumentedRoute:
    method: str
    rule: str
    func: Callable[..., Any]
    doc: RouteDoc


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


OIP = ["open inference protocol"]


ROUTING_HEADER = "x-routing-key"


def routing_key(raw_event: dict[str, Any]) -> str | None:
    """The ``X-Routing-Key`` header in any case. Read from the raw headers: Powertools' header lookup
    copies every header into a case-insensitive dict (and warns) on each call, on every request."""
    for key, value in (raw_event.get("headers") or {}).items():
        if len(key) == len(ROUTING_HEADER) and key.lower() == ROUTING_HEADER:
            return str(value)
    return None


def create_app(service: InferenceService) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()
    methods_by_rule: dict[str, set[str]] = {}
    documented: list[DocumentedRoute] = []

    def route(method: str, rule: str, doc: RouteDoc) -> Callable[[Any], Any]:
        methods_by_rule.setdefault(rule, set()).add(method)
        register = app.route(rule, method)

        def add(func: Callable[..., Any]) -> Callable[..., Any]:
            documented.append(DocumentedRoute(method, rule, func, doc))
            return register(func)

        return add

    def error_response(
        status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> Response[Any]:
        telemetry.error(code, status)
        if _is_v2(app.current_event.path or ""):
            return _json({"error": message}, status, headers)
        return _json({"error": {"code": code, "message": message}}, status, headers)

    def request_id() -> str:
        return request_id_of(app.current_event.raw_event, app.lambda_context)

    def routed(answer: Callable[..., tuple[str, dict[str, str]]], name: str) -> Response[Any]:
        """A predict or v2 infer request, routed by ``X-Routing-Key`` (else the request id) during a canary."""
        event = app.current_event
        text, headers = answer(
            unquote(name),
            event.body,
            bool(event.is_base64_encoded),
            request_id(),
            routing_key(event.raw_event),
        )
        return _json(text, headers=headers)

    # ---- the project's routes ----------------------------------------------------------------

    @route(
        "POST",
        "/models/<name>/predict",
        RouteDoc(
            "Predict with the production model",
            ["models"],
            "PredictResponse",
            {400: _BAD, 404: _UNKNOWN, 413: _TOO_LARGE, 503: _NOT_READY},
            description="Body: exactly one of records, instances (signature order) or dataframe_split (MLflow).",
            validated=False,
        ),
    )
    def predict(
        name: ModelName,
        body: PredictBody = None,
    ) -> Response[Any]:
        return routed(service.predict_routed, name)

    @route(
        "GET",
        "/models/<name>",
        RouteDoc(
            "The production model's metadata",
            ["models"],
            "ModelDocument",
            {404: _UNKNOWN, 503: _NOT_READY},
            description="Version, feature signature (names, types, allowed categories), classes, metrics.",
        ),
    )
    def get_model(name: ModelName) -> Response[Any]:
        return _json(model_document(service.model(unquote(name))))

    # ---- Open Inference Protocol (KServe v2), JSON form ----------------------------------------

    @route("GET", "/v2", RouteDoc("Server metadata", OIP, "V2ServerMetadata", v2_errors=True))
    def server_metadata() -> Response[Any]:
        return _json(v2.server_metadata())

    @route("GET", "/v2/health/live", RouteDoc("Liveness", OIP, "V2Live", v2_errors=True))
    def live() -> Response[Any]:
        return _json({"live": True})

    @route(
        "GET",
        "/v2/health/ready",
        RouteDoc(
            "Readiness: the function is initialised and can serve (each model: its own ready route)",
            OIP,
            "V2Ready",
            v2_errors=True,
        ),
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

    missing = {404: _UNKNOWN, 503: _NOT_READY}
    invalid = {400: _BAD, 404: _UNKNOWN, 413: _TOO_LARGE, 503: _NOT_READY}

    @route("GET", "/v2/models/<name>", RouteDoc("Model metadata", OIP, "V2ModelMetadata", missing, True))
    def v2_model(name: ModelName) -> Response[Any]:
        return _json(v2.model_metadata(served(name, None)))

    @route(
        "GET",
        "/v2/models/<name>/versions/<version>",
        RouteDoc("Model metadata (the production version only)", OIP, "V2ModelMetadata", missing, True),
    )
    def v2_model_version(name: ModelName, version: ModelVersionParam) -> Response[Any]:
        return _json(v2.model_metadata(served(name, version)))

    @route("GET", "/v2/models/<name>/ready", RouteDoc("Model readiness", OIP, "V2ModelReady", missing, True))
    def v2_model_ready(name: ModelName) -> Response[Any]:
        return _json({"name": served(name, None).name, "ready": True})

    @route(
        "GET",
        "/v2/models/<name>/versions/<version>/ready",
        RouteDoc("Model readiness (the production version only)", OIP, "V2ModelReady", missing, True),
    )
    def v2_model_version_ready(name: ModelName, version: ModelVersionParam) -> Response[Any]:
        return _json({"name": served(name, version).name, "ready": True})

    @route(
        "POST",
        "/v2/models/<name>/infer",
        RouteDoc("Inference", OIP, "V2InferResponse", invalid, True, validated=False),
    )
    def v2_infer(name: ModelName, body: V2Body = None) -> Response[Any]:
        return routed(service.infer_routed, name)

    @route(
        "POST",
        "/v2/models/<name>/versions/<version>/infer",
        RouteDoc(
            "Inference (the production version only)", OIP, "V2InferResponse", invalid, True, validated=False
        ),
    )
    def v2_infer_version(name: ModelName, version: ModelVersionParam, body: V2Body = None) -> Response[Any]:
        served(name, version)
        event = app.current_event
        return _json(service.infer(unquote(name), event.body, bool(event.is_base64_encoded), request_id()))

    # ---- the API's own description --------------------------------------------------------------

    built: list[str] = []

    @route("GET", "/openapi.json", RouteDoc("This API's OpenAPI document", ["meta"]))
    def openapi_document() -> Response[Any]:
        if not built:
            from mlops.serving import openapi

            built.append(openapi.document(documented))
        return _json(built[0])

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

    def serving_error(error: ServingError) -> Response[Any]:
        return error_response(error.status, error.code, error.message, error.headers or None)

    def unavailable(_: DependencyUnavailable) -> Response[Any]:
        logger.exception("An AWS dependency failed while serving a request")
        return error_response(
            503,
            "service_unavailable",
            "A storage dependency of the model is unavailable; retry shortly.",
            {"Retry-After": "1"},
        )

    def unexpected(error: Exception) -> Response[Any]:
        logger.exception("Unexpected error while serving a request")
        return error_response(
            500, "internal_error", "The request failed unexpectedly; see the function's logs."
        )

    # Registered by call, not as decorators: Powertools' exception_handler is unannotated, and as a
    # decorator it would erase these handlers' types.
    app.exception_handler(ServingError)(serving_error)
    app.exception_handler(DependencyUnavailable)(unavailable)
    app.exception_handler(Exception)(unexpected)
    return app
