"""The Logger, Tracer and Metrics every function shares (Powertools).

The service name is the stack's; each function's name comes from its Lambda context, which
``inject_lambda_context`` adds to every log line.

The Tracer is built on first use (``from mlops.observability import tracer``): building it imports the
X-Ray SDK, whose sampler creates a botocore client, about 0.3 s of cold start that the inference
function, which does not trace, does without.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "mlops"

logger = Logger(service=SERVICE)
# The namespace comes from POWERTOOLS_METRICS_NAMESPACE, which the stack description sets per stage.
metrics = Metrics(service=SERVICE)
tracer: Tracer


def __getattr__(name: str) -> Any:
    if name == "tracer":
        built = Tracer(service=SERVICE)
        globals()["tracer"] = built
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
