"""The Logger, Tracer and Metrics every function shares (Powertools).

The service name is the stack's; each function's name comes from its Lambda context, which
``inject_lambda_context`` adds to every log line.

The Tracer is built on first use (``from mlops.observability import tracer``): building it imports the
X-Ray SDK, whose sampler creates a botocore client: a cold-start cost (docs/performance.md, "Figures
behind design choices") that the inference function, which does not trace, does without.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model

SERVICE = "mlops"

logger = Logger(service=SERVICE)
# The namespace comes from POWERTOOLS_METRICS_NAMESPACE, which the stack description sets per stage.
metrics = Metrics(service=SERVICE)
tracer: Tracer
HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])


def inject_context(handler: HandlerT) -> HandlerT:
    """Powertools' ``inject_lambda_context``, with the context's keys kept per thread.

    Every line of an invocation carries its function's Lambda context (``function_name``,
    ``function_request_id``, ``cold_start``...) and no key an earlier invocation appended: without the
    clearing, a warm container's lines carry the ``run_id`` and ``dataset`` of the run it handled
    before. The keys are per thread, as ``invocation_keys`` are, because the embedded stack runs
    functions side by side in one process: Powertools' own decorator sets them on the one shared
    logger, so an ingest line logged while validation started in another thread named validation.
    In AWS a function has its process to itself, and the two behave the same.
    """
    cold = [True]

    @functools.wraps(handler)
    def injected(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        logger.thread_safe_clear_keys()
        cold_start, cold[0] = cold[0], False
        logger.thread_safe_append_keys(cold_start=cold_start, **build_lambda_context_model(context).__dict__)
        return handler(event, context, *args, **kwargs)

    return cast(HandlerT, injected)


def instrumented(handler: HandlerT) -> HandlerT:
    """A traced function's handler under Powertools' decorators, in their order: the Lambda context on
    every log line (``inject_context``), its metrics flushed when it returns, and its trace segment.
    (The inference and batch functions do not trace, and wear the decorators they need themselves.)"""
    traced = __getattr__("tracer").capture_lambda_handler(handler)
    return inject_context(cast(HandlerT, metrics.log_metrics(traced)))


def invocation_keys(**keys: object) -> None:
    """Keys on every log line of this invocation (and this thread) only."""
    logger.thread_safe_append_keys(**keys)


def __getattr__(name: str) -> Any:
    if name == "tracer":
        built = Tracer(service=SERVICE)
        globals()["tracer"] = built
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
