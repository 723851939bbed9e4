"""The API's OpenAPI document, built on the first ``GET /openapi.json`` (``mlops.serving.api``).

Powertools generates it from a resolver of its own that carries each route's documentation: the
route's function with its annotations evaluated here (path parameters and bodies as Powertools'
``Path``/``Body`` parameters), its summary, tags and answers (models of ``mlops.serving.schema``).
This module imports Powertools' OpenAPI machinery and builds the document models, which the serving
resolver never needs, so a container pays for them only when a client asks for the document.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from mlops import __version__
from mlops.serving import schema
from mlops.serving.schema import PredictRequest, V2InferRequest

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

    from mlops.serving.api import DocumentedRoute

JSON = "application/json"
# No length limits here: API Gateway hands over the path percent-encoded, so a limit would apply to
# the encoded text; the model store answers names no model can have with a 404.
ModelName = Annotated[str, Path(description="The model's name (its dataset's name).")]
ModelVersionParam = Annotated[str, Path(description="A model version number.")]
PredictBody = Annotated[PredictRequest | None, Body(description="The rows to predict.")]
V2Body = Annotated[V2InferRequest | None, Body(description="Input tensors named after the features.")]
ANNOTATIONS = {
    "ModelName": ModelName,
    "ModelVersionParam": ModelVersionParam,
    "PredictBody": PredictBody,
    "V2Body": V2Body,
}
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def _responses(ok: str | None, errors: dict[int, str], v2_errors: bool) -> dict[int, OpenAPIResponse] | None:
    if ok is None and not errors:
        return None
    error_model = schema.V2Error if v2_errors else schema.ErrorResponse
    out: dict[int, OpenAPIResponse] = {}
    if ok is not None:
        out[200] = {"description": "OK", "content": {JSON: {"model": getattr(schema, ok)}}}
    for status, description in errors.items():
        out[status] = {"description": description, "content": {JSON: {"model": error_model}}}
    return out


def _annotated(func: Callable[..., Any]) -> Callable[..., Any]:
    """A stand-in for ``func`` whose signature carries its annotations evaluated: the serving module
    names them only for type checkers, and this module is where they exist."""
    namespace = {**func.__globals__, **ANNOTATIONS}
    hints = typing.get_type_hints(func, globalns=namespace, include_extras=True)
    signature = inspect.signature(func)
    parameters = [
        p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
    ]

    def documented(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    documented.__name__ = func.__name__  # Powertools derives the operation ids from it
    documented.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=hints.get("return", signature.return_annotation)
    )
    return documented


def _require_body(operation: dict[str, Any]) -> None:
    """The inference routes declare their body optional (they parse it themselves, see
    ``mlops.serving.api``); the document says what they need: a required body of the declared model."""
    body = operation.get("requestBody")
    if not body:
        return
    for media in body.get("content", {}).values():
        media_schema = media.get("schema", {})
        refs = [option for option in media_schema.get("anyOf", []) if "$ref" in option]
        if len(refs) == 1 and len(media_schema["anyOf"]) == 2 and {"type": "null"} in media_schema["anyOf"]:
            media["schema"] = {"$ref": refs[0]["$ref"], "description": media_schema.get("description", "")}
    body["required"] = True


def document(routes: list[DocumentedRoute]) -> str:
    """Powertools' document for ``routes``, with its 422 answers removed (validation failures here are
    400s in the contract's error shape) and the inference routes' bodies marked required."""
    app = APIGatewayRestResolver(enable_validation=True)
    for route in routes:
        doc = route.doc
        app.route(
            route.rule,
            route.method,
            summary=doc.summary,
            description=doc.description,
            tags=doc.tags,
            responses=_responses(doc.ok, doc.errors, doc.v2_errors),
            enable_validation=None if doc.validated else False,
        )(_annotated(route.func))
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
    kept = {name: definition for name, definition in schemas.items() if name not in powertools_only}
    referenced = json.dumps({"paths": document.get("paths", {}), "schemas": kept})
    for name in powertools_only:
        if f'#/components/schemas/{name}"' not in referenced:
            schemas.pop(name, None)
    return _dumps(document)
