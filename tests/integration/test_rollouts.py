"""Canary rollouts against the real inference function in moto: routing, guardrails, rollback, races,
and the approval gate."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from mlops import deployments, rollouts
from mlops.config import CanaryConfig, DeploymentConfig, GuardrailConfig
from mlops.definition.description import METRICS_NAMESPACE
from mlops.entities import ModelVersion, Rollout, utcnow
from mlops.errors import Conflict
from mlops.rollout_adapters import CloudWatchVariantMetrics
from tests.events import load_event

from .inference_fixtures import (
    InferenceStack,
    Trained,
    inference_stack,
    train_churn,
    train_churn_with_region,
)

NAMESPACE = METRICS_NAMESPACE.for_stage("local")
NAME = "churn"


def no_machine(rollout: Rollout) -> None:
    """Tests drive ``check`` themselves instead of the rollout state machine."""
    return None


def deployment(**guardrails: float) -> DeploymentConfig:
    return DeploymentConfig(
        strategy="canary",
        canary=CanaryConfig(steps=(50, 100), bake="1s"),
        guardrails=GuardrailConfig(**{"min_requests": 1, **guardrails}),
    )


@pytest.fixture(scope="module")
def churn() -> Trained:
    return train_churn()


@pytest.fixture(scope="module")
def churn_with_region() -> Trained:
    """A candidate that requires a column clients do not send yet."""
    return train_churn_with_region()


@pytest.fixture
def stack(churn: Trained) -> Iterator[InferenceStack]:
    with inference_stack(
        POWERTOOLS_METRICS_NAMESPACE=NAMESPACE, VARIANT_METRICS_INTERVAL_SECONDS="0"
    ) as running:
        running.publish(NAME, churn)
        yield running


def predict(
    stack: InferenceStack, key: str, event: str = "predict_records", path: str = f"/models/{NAME}/predict"
) -> tuple[dict[str, Any], dict[str, str]]:
    sample = load_event(f"inference/{event}")
    sample["path"] = path
    sample["headers"] = {**(sample.get("headers") or {}), "X-Routing-Key": key}
    sample.pop("multiValueHeaders", None)
    response = stack(sample)
    assert response["statusCode"] == 200, response["body"]
    headers = dict(response.get("headers") or {})
    headers.update({k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()})
    return json.loads(response["body"]), headers


def check(stack: InferenceStack, rollout: Rollout, later_s: float = 0.0) -> rollouts.CheckResult:
    metrics = CloudWatchVariantMetrics(NAMESPACE)
    return rollouts.check(
        stack.registry, metrics, NAME, rollout.rollout_id, now=utcnow() + timedelta(seconds=later_s)
    )


def race(*calls: Callable[[], object]) -> None:
    """Run the calls at the same moment, each in its thread; a Conflict is one of the allowed outcomes."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        with contextlib.suppress(Conflict):
            call()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def production_versions(stack: InferenceStack) -> list[int]:
    return [m.version for m in stack.registry.models.list_model_versions(NAME) if m.status == "production"]


def test_a_canary_routes_by_key_names_the_variant_and_completes(
    stack: InferenceStack, churn: Trained
) -> None:
    candidate = stack.publish(NAME, churn, promote=False)
    # The happy path: a p99 ceiling no loaded test machine reaches (the default 250 ms rolled it back
    # under a load of 15 on two cores); the latency guardrail has a test of its own below.
    healthy = deployment(max_p99_latency_ms=60_000.0)
    rollout = rollouts.start(stack.registry, NAME, candidate.version, healthy, no_machine)
    assert rollout.current_weight == 50
    answers = {key: predict(stack, key) for key in (f"client-{i}" for i in range(60))}
    variants = {body["variant"] for body, _ in answers.values()}
    assert variants == {"production", "candidate"}
    for key, (body, headers) in list(answers.items())[:10]:
        again, _ = predict(stack, key)
        assert again["variant"] == body["variant"]  # sticky
        assert headers["X-Model-Variant"] == body["variant"]
        assert headers["X-Model-Version"] == str(body["version"])
        assert body["version"] == (candidate.version if body["variant"] == "candidate" else 1)

    early = rollouts.check(
        stack.registry,
        CloudWatchVariantMetrics(NAMESPACE),
        NAME,
        rollout.rollout_id,
        now=rollout.step_started_at + timedelta(seconds=0.5),
    )
    assert early.status == "running"  # the bake has not passed
    assert stack.registry.models.get_alias(NAME).candidate_weight == 50  # type: ignore[union-attr]
    time.sleep(max(0.0, 1.1 - (utcnow() - rollout.step_started_at).total_seconds()))
    assert check(stack, rollout).status == "running"
    assert stack.registry.models.get_alias(NAME).candidate_weight == 100  # type: ignore[union-attr]
    predict(stack, "after-the-step")
    time.sleep(1.1)
    done = check(stack, rollout)
    assert done.status == "completed"
    assert stack.registry.models.get_alias(NAME).version == candidate.version  # type: ignore[union-attr]
    assert production_versions(stack) == [candidate.version]
    body, headers = predict(stack, "client-1")
    assert "variant" not in body and headers["X-Model-Variant"] == "production"
    actions = [e.action for e in stack.registry.models.alias_history(NAME)]
    assert actions[-3:] == ["canary", "canary", "canary"]  # started, advanced, completed


def test_a_candidate_that_refuses_what_production_accepts_is_rolled_back(
    stack: InferenceStack, churn_with_region: Trained
) -> None:
    candidate = stack.publish(NAME, churn_with_region, promote=False)
    rollout = rollouts.start(
        stack.registry, NAME, candidate.version, deployment(max_error_rate=0.05), no_machine
    )
    for i in range(40):
        body, _ = predict(stack, f"client-{i}")
        assert body["version"] == 1  # production answers what the candidate refused: no client sees an error
    result = check(stack, rollout)
    assert result.status == "rolled_back"
    assert result.reason is not None and "error rate 100.00%" in result.reason
    assert stack.registry.models.get_model_version(NAME, candidate.version).status == "rolled_back"
    alias = stack.registry.models.get_alias(NAME)
    assert alias is not None and alias.version == 1 and alias.candidate is None
    assert production_versions(stack) == [1]
    assert stack.registry.models.alias_history(NAME)[-1].action == "rollback"


def test_a_slow_candidate_is_rolled_back_on_its_p99(stack: InferenceStack, churn: Trained) -> None:
    candidate = stack.publish(NAME, churn, promote=False)
    rollout = rollouts.start(
        stack.registry, NAME, candidate.version, deployment(max_p99_latency_ms=0.001), no_machine
    )
    for i in range(20):
        predict(stack, f"client-{i}")
    result = check(stack, rollout)
    assert result.status == "rolled_back"
    assert result.reason is not None and "p99 latency" in result.reason
    assert production_versions(stack) == [1]


def test_a_candidate_alarm_rolls_back(stack: InferenceStack, churn: Trained) -> None:
    candidate = stack.publish(NAME, churn, promote=False)
    rollouts.start(stack.registry, NAME, candidate.version, deployment(), no_machine)
    ended = rollouts.on_alarm(stack.registry, NAME, "mlops-local-rollout-churn-errors")
    assert ended is not None and ended.status == "rolled_back"
    assert "mlops-local-rollout-churn-errors" in (ended.reason or "")
    assert stack.registry.models.get_alias(NAME).candidate is None  # type: ignore[union-attr]


def test_rollback_during_a_canary_stops_it_and_keeps_production(
    stack: InferenceStack, churn: Trained
) -> None:
    candidate = stack.publish(NAME, churn, promote=False)
    rollout = rollouts.start(stack.registry, NAME, candidate.version, deployment(), no_machine)
    move = deployments.rollback(stack.registry, NAME, "Not today.")
    assert move.after == 1
    assert stack.registry.models.get_rollout(NAME).status == "aborted"  # type: ignore[union-attr]
    assert check(stack, rollout).status == "aborted"
    assert production_versions(stack) == [1]


@pytest.mark.parametrize("attempt", range(4))
def test_a_promote_racing_a_rollout_leaves_exactly_one_production_version(
    stack: InferenceStack, churn: Trained, attempt: int
) -> None:
    candidate = stack.publish(NAME, churn, promote=False)
    other = stack.publish(NAME, churn, promote=False)
    # No latency guardrail to trip on a loaded machine: only the race decides how the rollout ends.
    relaxed = deployment(max_p99_latency_ms=600_000)
    rollout = rollouts.start(stack.registry, NAME, candidate.version, relaxed, no_machine)
    predict(stack, "one")
    race(
        lambda: deployments.promote(stack.registry, NAME, other.version),
        lambda: check(stack, rollout, later_s=2),
    )
    current = stack.registry.models.get_rollout(NAME)
    assert current is not None
    if current.status == "running":
        check(stack, current, later_s=3)
    alias = stack.registry.models.get_alias(NAME)
    assert alias is not None
    assert production_versions(stack) == [alias.version]
    if alias.version == other.version:
        assert alias.candidate is None
        assert stack.registry.models.get_rollout(NAME).status == "aborted"  # type: ignore[union-attr]


def test_a_check_that_finds_its_candidate_promoted_by_another_check_records_it_completed(
    stack: InferenceStack, churn: Trained
) -> None:
    candidate = stack.publish(NAME, churn, promote=False)
    rollout = rollouts.start(stack.registry, NAME, candidate.version, deployment(), no_machine)
    alias = stack.registry.models.get_alias(NAME)
    # A second check of the same rollout (resumed after a restart) moved the alias to the candidate and
    # has not recorded the rollout's end yet when this check reads them.
    stack.registry.models.move_alias(NAME, candidate.version, alias, "canary", None, "Completed by a twin.")
    assert check(stack, rollout).status == "completed"
    assert stack.registry.models.get_rollout(NAME).status == "completed"  # type: ignore[union-attr]
    assert production_versions(stack) == [candidate.version]


def test_only_one_rollout_runs_at_a_time(stack: InferenceStack, churn: Trained) -> None:
    first = stack.publish(NAME, churn, promote=False)
    second = stack.publish(NAME, churn, promote=False)
    rollouts.start(stack.registry, NAME, first.version, deployment(), no_machine)
    with pytest.raises(Conflict, match="already has a rollout running"):
        rollouts.start(stack.registry, NAME, second.version, deployment(), no_machine)


def test_the_approval_gate_holds_production_until_a_person_decides(
    stack: InferenceStack, churn: Trained
) -> None:
    waiting = stack.publish(NAME, churn, promote=False)
    stack.registry.models.set_model_status(NAME, waiting.version, "pending_approval", "Passed review.")
    predict(stack, "before")
    assert stack.registry.models.get_alias(NAME).version == 1  # type: ignore[union-attr]
    message = deployments.approve(
        stack.registry, NAME, waiting.version, "Looks right.", "arn:aws:iam::1:user/ana"
    )
    assert f"v{waiting.version}" in message
    event = stack.registry.models.alias_history(NAME)[-1]
    assert (event.action, event.actor, event.reason) == ("approve", "arn:aws:iam::1:user/ana", "Looks right.")
    approved = stack.registry.models.get_model_version(NAME, waiting.version)
    assert approved.status == "production" and approved.approval is not None
    assert approved.approval.actor == "arn:aws:iam::1:user/ana"

    refused = stack.publish(NAME, churn, promote=False)
    stack.registry.models.set_model_status(NAME, refused.version, "pending_approval", "Passed review.")
    deployments.reject(stack.registry, NAME, refused.version, "Wrong data.", "arn:aws:iam::1:user/bo")
    assert stack.registry.models.get_model_version(NAME, refused.version).status == "rejected"
    assert production_versions(stack) == [waiting.version]
    with pytest.raises(Conflict, match="not pending_approval"):
        deployments.approve(
            stack.registry, NAME, refused.version, "Changed my mind.", "arn:aws:iam::1:user/bo"
        )


def test_approving_under_a_canary_strategy_starts_the_canary(stack: InferenceStack, churn: Trained) -> None:
    waiting = stack.publish(NAME, churn, promote=False)
    stack.registry.models.set_model_status(NAME, waiting.version, "pending_approval", "Passed review.")

    def begin(model: ModelVersion) -> str:
        rollout = rollouts.start(stack.registry, model.name, model.version, deployment(), no_machine)
        return f"canary {rollout.rollout_id}"

    assert deployments.approve(
        stack.registry, NAME, waiting.version, "Go.", "arn:aws:iam::1:user/ana", begin
    ).startswith("canary ")
    approved = stack.registry.models.get_model_version(NAME, waiting.version)
    assert approved.status == "candidate" and approved.approval is not None
    alias = stack.registry.models.get_alias(NAME)
    assert alias is not None and alias.version == 1 and alias.candidate == waiting.version


def infer_v2(stack: InferenceStack, key: str) -> tuple[dict[str, Any], dict[str, str]]:
    return predict(stack, key, "v2_infer", f"/v2/models/{NAME}/infer")


def test_open_inference_protocol_requests_follow_the_same_sticky_canary_routing(
    stack: InferenceStack, churn: Trained, churn_with_region: Trained
) -> None:
    candidate = stack.publish(NAME, churn, promote=False)
    rollouts.start(stack.registry, NAME, candidate.version, deployment(), no_machine)
    for i in range(20):
        key = f"client-{i}"
        body, headers = infer_v2(stack, key)
        predicted, _ = predict(stack, key)
        # The same key gets the same variant on both routes; v2 names it in the headers only.
        assert headers["X-Model-Variant"] == predicted["variant"]
        assert body["model_version"] == headers["X-Model-Version"] == str(predicted["version"])
        assert "variant" not in body
    variants = {infer_v2(stack, f"client-{i}")[1]["X-Model-Variant"] for i in range(40)}
    assert variants == {"production", "candidate"}


def test_a_v2_request_the_candidate_refuses_is_answered_by_production(
    stack: InferenceStack, churn_with_region: Trained
) -> None:
    candidate = stack.publish(NAME, churn_with_region, promote=False)
    rollout = rollouts.start(
        stack.registry, NAME, candidate.version, deployment(max_error_rate=0.05), no_machine
    )
    for i in range(20):
        body, headers = infer_v2(stack, f"client-{i}")
        assert body["model_version"] == "1" and headers["X-Model-Variant"] == "production"
    result = check(stack, rollout)
    assert result.status == "rolled_back" and "error rate 100.00%" in (result.reason or "")
