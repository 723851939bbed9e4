"""Domain exceptions. Adapters raise these; the edges (handlers, the HTTP resolver, the state machine's
Catch) turn them into responses. Each message is one sentence a user can act on."""

from __future__ import annotations


class MlopsError(Exception):
    """Base of every error the domain raises on purpose."""


class NotFound(MlopsError):
    """A dataset, version, run or model that does not exist."""


class Conflict(MlopsError):
    """A conditional write lost a race or an invariant would break."""


class IngestRefused(MlopsError):
    """The uploaded object cannot become a dataset version (empty, not CSV, unreadable)."""


class ValidationFailed(MlopsError):
    """The dataset version breaks a validation rule; the message names the column and the rule."""


class TrainingFailed(MlopsError):
    """Training could not produce a model."""


class ConversionFailed(MlopsError):
    """ONNX conversion failed or the converted model does not match scikit-learn (parity gate)."""


class ConfigError(MlopsError):
    """A dataset config is missing or invalid."""


class RecordTooLarge(MlopsError):
    """A metadata record would pass DynamoDB's 400 KB item limit (a bound missed a shape of data)."""


class StageOrderError(MlopsError):
    """A stage ran without the result of the stage before it: its input skipped a step of the pipeline."""


class BadRequest(MlopsError):
    """An AWS service refused a request as invalid (a role, instance type or parameter it does not take)."""


class DependencyUnavailable(MlopsError):
    """An AWS service is throttling, failing or unreachable after the client's retries: try again later."""
