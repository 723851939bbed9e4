"""Canary routing and the per-variant figures the rollout's guardrails read.

A request goes to the candidate when its routing key (``X-Routing-Key``, else the request id) falls in
the candidate's share of 10,000 buckets. The bucket is a hash of the key salted with the candidate
version: the same key lands on the same variant in every container for the whole
rollout, and each new rollout draws a fresh slice of clients.

``VariantStats`` counts each variant's requests, failures and latencies in memory and publishes them
to CloudWatch (``PutMetricData``) at most once per interval, from the request that finds the interval
over; the rollout function and the candidate's alarms read them. Nothing is published when no canary
runs.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mlops.observability import logger
from mlops.variant_metrics import (
    CANDIDATE,
    PRODUCTION,
    ROLLOUT_ERROR_RATE,
    ROLLOUT_ERRORS,
    ROLLOUT_LATENCY_P99,
    ROLLOUT_REQUESTS,
    dimensions,
)

__all__ = ["CANDIDATE", "PRODUCTION", "VariantStats", "bucket", "to_candidate"]
BUCKETS = 10_000


def bucket(key: str, salt: int) -> int:
    """The key's bucket in [0, 10,000) for the rollout of candidate ``salt``: stable across processes.

    CRC-32 of the key seeded with the salt, then MurmurHash3's 32-bit finalizer, which spreads
    CRC-32's linear structure over every bit (sequential ids land evenly): cheaper than a keyed
    BLAKE2b, and the split needs no cryptographic strength."""
    h = zlib.crc32(key.encode("utf-8", "surrogatepass"), salt * 0x9E3779B1 & 0xFFFFFFFF)
    h = ((h ^ (h >> 16)) * 0x85EBCA6B) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 0xC2B2AE35) & 0xFFFFFFFF
    return (h ^ (h >> 16)) % BUCKETS


def to_candidate(key: str, candidate: int, weight_percent: float) -> bool:
    """Whether the request with this key is the candidate's, at ``weight_percent`` of the traffic."""
    if weight_percent <= 0:
        return False
    if weight_percent >= 100:
        return True
    return bucket(key, candidate) < weight_percent * (BUCKETS // 100)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


class _Tally:
    __slots__ = ("errors", "latencies_ms", "requests", "version")

    def __init__(self, version: int) -> None:
        self.version = version
        self.requests = 0
        self.errors = 0
        self.latencies_ms: list[float] = []


Publisher = Callable[[list[dict[str, Any]]], None]


class VariantStats:
    """Per model and variant: requests, errors, latencies since the last publish."""

    def __init__(
        self, publish: Publisher, interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._publish = publish
        self.interval_s = interval_s
        self._clock = clock
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._lock = threading.Lock()
        self._last = clock()

    def record(self, model: str, variant: str, version: int, latency_ms: float | None, failed: bool) -> None:
        with self._lock:
            tally = self._tallies.get((model, variant))
            if tally is None or tally.version != version:
                tally = self._tallies[(model, variant)] = _Tally(version)
            tally.requests += 1
            if failed:
                tally.errors += 1
            elif latency_ms is not None:
                tally.latencies_ms.append(latency_ms)
        if self._clock() - self._last >= self.interval_s:
            self.flush()

    def metric_data(self) -> list[dict[str, Any]]:
        """What is pending as ``PutMetricData`` entries, and forget it."""
        with self._lock:
            tallies, self._tallies = self._tallies, {}
            self._last = self._clock()
        at = datetime.now(UTC)
        data: list[dict[str, Any]] = []
        for (model, variant), tally in tallies.items():
            dims = dimensions(model, variant)

            def point(
                name: str, value: float, unit: str, dims: list[dict[str, str]] = dims
            ) -> dict[str, Any]:
                return {"MetricName": name, "Dimensions": dims, "Timestamp": at, "Value": value, "Unit": unit}

            data.append(point(ROLLOUT_REQUESTS, tally.requests, "Count"))
            data.append(point(ROLLOUT_ERRORS, tally.errors, "Count"))
            data.append(point(ROLLOUT_ERROR_RATE, tally.errors / tally.requests, "None"))
            if tally.latencies_ms:
                data.append(point(ROLLOUT_LATENCY_P99, p99(tally.latencies_ms), "Milliseconds"))
        return data

    def flush(self) -> None:
        data = self.metric_data()
        if not data:
            return
        try:
            self._publish(data)
        except Exception:  # figures are best effort; the request goes on
            logger.warning("Could not publish the rollout's variant metrics", exc_info=True)
