"""What the inference API answers instead of a prediction: one class per HTTP status and error code.

The resolver turns each into ``{"error": {"code", "message"}}`` on ``/models/...`` routes and into the
Open Inference Protocol's ``{"error": message}`` on ``/v2/...`` routes.
"""

from __future__ import annotations

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
