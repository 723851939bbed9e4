"""Inference: the HTTPS API (API Gateway REST proxy events) over each dataset's production model.

Imports onnxruntime and numpy, never scikit-learn, pandas or scipy: the function ships small and starts
fast (a test holds its import budget). No Powertools Tracer: building one imports the X-Ray SDK (a large
part of a cold start) and its handler decorator costs more per request than the model takes on one
row; with active tracing on, Lambda's own segment still times every invocation, and model loads are
logged with their duration (bench/bench_inference.py measures all three). With SnapStart, the hooks
load the production models before the snapshot and refresh what must be unique after each restore
(``mlops.serving.snapstart``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from snapshot_restore_py import register_after_restore, register_before_snapshot

from mlops.function_settings import load_settings
from mlops.observability import inject_context, invocation_keys, metrics
from mlops.serving import snapstart
from mlops.serving.api import create_app, request_id_of
from mlops.serving.service import InferenceService
from mlops.serving.settings import InferenceSettings

settings = load_settings(InferenceSettings)
service = InferenceService.from_settings(settings)
app = create_app(service)
register_before_snapshot(snapstart.before_snapshot, service)
register_after_restore(snapstart.after_restore, service)


@inject_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # This request's lines only: Powertools' set_correlation_id sets it on the one shared logger, which
    # the embedded stack's other functions (and HTTP threads) log through too.
    invocation_keys(correlation_id=request_id_of(event, context))
    return app.resolve(event, context)
