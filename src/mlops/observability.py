"""The Logger, Tracer and Metrics every function shares (Powertools).

The service name is the stack's; each function's name comes from its Lambda context, which
``inject_lambda_context`` adds to every log line.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "mlops"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace="Mlops")
