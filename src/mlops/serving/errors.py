"""What the inference API answers instead of a prediction: one class per HTTP status and error code.

The resolver turns each into ``{"error": {"code", "message"}}`` on ``/models/...`` routes and into the
Open Inference Protocol's ``{"error": message}`` on ``/v2/...`` routes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

from mlops.errors import MlopsError


class ServingError(MlopsError):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid_input"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InvalidInput(ServingError):
    """Malformed JSON, a missing or unknown feature, a value of the wrong type, an empty batch."""


class ModelNotFound(ServingError):
    status = 404
    code = "model_not_found"


class RouteNotFound(ServingError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ServingError):
    status = 405
    code = "method_not_allowed"


class PayloadTooLarge(ServingError):
    status = 413
    code = "payload_too_large"


class NoProductionModel(ServingError):
    """The model has versions but none was promoted to production yet."""

    status = 503
    code = "no_production_model"


class ModelUnavailable(ServingError):
    """The production version cannot be loaded (integrity check, storage) and no earlier one is loaded."""

    status = 503
    code = "model_unavailable"


@dataclass(frozen=True)
class GatewayError:
    """An error API Gateway answers itself, before or instead of the function, in the routes' shape.

    One vocabulary for both paths: a client reads ``error.code`` the same whether the function or the
    gateway refused (``payload_too_large`` for a body over either limit), and the embedded stack's HTTP
    server answers these exactly as the deployed gateway does.
    """

    response_type: str  # API Gateway's gateway response type
    status: int | None  # None: the gateway's own status passes through (the DEFAULT_* types)
    code: str
    message: str

    def body(self) -> str:
        return json.dumps({"error": {"code": self.code, "message": self.message}})


_KEY_MESSAGE = "The request has no valid API key: send the stack's key in the x-api-key header."
GATEWAY_ERRORS: tuple[GatewayError, ...] = (
    GatewayError(
        "REQUEST_TOO_LARGE", 413, PayloadTooLarge.code, "The request body is over the API's 10 MB limit."
    ),
    GatewayError("INVALID_API_KEY", 403, "invalid_api_key", _KEY_MESSAGE),
    GatewayError("MISSING_AUTHENTICATION_TOKEN", 403, "invalid_api_key", _KEY_MESSAGE),
    GatewayError("THROTTLED", 429, "throttled", "Too many requests: retry with exponential backoff."),
    GatewayError("QUOTA_EXCEEDED", 429, "throttled", "The API key's request quota is used up for now."),
    GatewayError(
        "INTEGRATION_TIMEOUT", 504, "timeout", "The model did not answer in time; retry, or send fewer rows."
    ),
    GatewayError("DEFAULT_4XX", None, InvalidInput.code, "The API refused the request as malformed."),
    GatewayError("DEFAULT_5XX", None, "internal_error", "The API failed to reach the model; retry shortly."),
)


def gateway_error(response_type: str) -> GatewayError:
    return next(e for e in GATEWAY_ERRORS if e.response_type == response_type)
