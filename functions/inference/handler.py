"""Inference: the HTTPS API (API Gateway REST proxy events) over each dataset's production model.

Imports onnxruntime and numpy, never scikit-learn, pandas or scipy: the function ships small and starts
fast (a test holds it to that). No Powertools Tracer: building one imports the X-Ray SDK (about 0.3 s
of cold start) and its handler decorator costs about 25 µs per request, more than the model takes on
one row; with active tracing on, Lambda's own segment still times every invocation, and model loads
are logged with their duration (bench/bench_inference.py measures all three).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops.observability import logger, metrics
from mlops.serving.api import create_app, request_id_of
from mlops.serving.service import InferenceService
from mlops.settings import InferenceSettings, load_settings

settings = load_settings(InferenceSettings)
app = create_app(InferenceService.from_settings(settings))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id(request_id_of(event, context))
    return app.resolve(event, context)
