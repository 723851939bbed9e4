"""The names of the per-variant figures a canary publishes (the inference function) and reads (the
rollout function and the candidate's alarms), in the stage's metric namespace."""

from __future__ import annotations

PRODUCTION = "production"
CANDIDATE = "candidate"

ROLLOUT_REQUESTS = "RolloutRequests"
ROLLOUT_ERRORS = "RolloutErrors"
ROLLOUT_ERROR_RATE = "RolloutErrorRate"
ROLLOUT_LATENCY_P99 = "RolloutLatencyP99"


def dimensions(model: str, variant: str) -> list[dict[str, str]]:
    return [{"Name": "model", "Value": model}, {"Name": "variant", "Value": variant}]
