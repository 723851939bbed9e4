"""Canary routing: the candidate's share over many keys, and the same answer for the same key."""

from __future__ import annotations

import pytest

from mlops.serving.routing import VariantStats, bucket, to_candidate


@pytest.mark.parametrize("weight", [1, 10, 50, 90])
def test_shares_are_within_three_points_over_ten_thousand_keys(weight: int) -> None:
    keys = [f"client-{i}" for i in range(10_000)]
    share = sum(to_candidate(key, 7, weight) for key in keys) / len(keys) * 100
    assert abs(share - weight) <= 3, share


def test_routing_is_sticky_per_key_and_grows_with_the_weight() -> None:
    keys = [f"user-{i}@example.com" for i in range(2_000)]
    at_10 = {k for k in keys if to_candidate(k, 3, 10)}
    assert at_10 == {k for k in keys if to_candidate(k, 3, 10)}
    # Advancing a step keeps every client the candidate already answered.
    at_50 = {k for k in keys if to_candidate(k, 3, 50)}
    assert at_10 < at_50


def test_each_rollout_draws_its_own_slice_and_the_ends_are_exact() -> None:
    keys = [f"k{i}" for i in range(2_000)]
    assert {k for k in keys if to_candidate(k, 3, 20)} != {k for k in keys if to_candidate(k, 4, 20)}
    assert not any(to_candidate(k, 3, 0) for k in keys)
    assert all(to_candidate(k, 3, 100) for k in keys)
    assert all(0 <= bucket(k, 3) < 10_000 for k in keys)


def test_variant_stats_publish_counts_rates_and_p99_then_start_over() -> None:
    published: list[list[dict[str, object]]] = []
    now = [0.0]
    stats = VariantStats(published.append, interval_s=10, clock=lambda: now[0])
    for i in range(99):
        stats.record("churn", "candidate", 2, float(i), failed=False)
    stats.record("churn", "candidate", 2, None, failed=True)
    assert published == []  # within the interval: nothing sent yet
    now[0] = 11.0
    stats.record("churn", "production", 1, 1.0, failed=False)
    (data,) = published
    figures = {(d["MetricName"], d["Dimensions"][1]["Value"]): d["Value"] for d in data}  # type: ignore[index]
    assert figures[("RolloutRequests", "candidate")] == 100
    assert figures[("RolloutErrors", "candidate")] == 1
    assert figures[("RolloutErrorRate", "candidate")] == pytest.approx(0.01)
    assert figures[("RolloutLatencyP99", "candidate")] == 98.0
    assert figures[("RolloutRequests", "production")] == 1
    stats.flush()
    assert len(published) == 1  # nothing new to send
