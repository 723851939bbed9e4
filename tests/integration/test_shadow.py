"""Shadow rollouts and the ground-truth guardrail against the real inference function in moto: the
candidate scores production's captured requests without answering them, and labels uploaded under
``ground-truth/<model>/`` (or the deprecated ``feedback/<model>/``) judge a canary's live accuracy."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from mlops import aws, deployments, rollouts
from mlops.config import CanaryConfig, DatasetConfig, DeploymentConfig, GuardrailConfig, ShadowConfig
from mlops.console.pages import rollouts as rollouts_page
from mlops.definition.description import METRICS_NAMESPACE
from mlops.drift.service import build_drift_deps, run_drift
from mlops.entities import Rollout, utcnow
from mlops.labels import LABEL_CLOCK_MARGIN, NO_REQUEST_ID, NOT_AN_OBJECT
from mlops.rollout_adapters import CloudWatchVariantMetrics
from mlops.settings import DriftSettings
from mlops.shadow import CapturedEvidence
from tests.events import load_event
from tests.factories import TABLE
from tests.integration.conftest import wait_for

from .inference_fixtures import (
    ARTIFACTS,
    CAPTURE,
    CHURN_FEATURES,
    InferenceStack,
    Trained,
    churn_frame,
    inference_stack,
    train_churn,
    train_diabetes,
    train_model,
)
from .test_rollouts import race

NAMESPACE = METRICS_NAMESPACE.for_stage("local")
NAME = "churn"
FRAME = churn_frame(rows=120, seed=11)


def no_machine(rollout: Rollout) -> None:
    """Tests drive ``check`` themselves instead of the rollout state machine."""
    return None


def shadow(requests: int, **gate: float) -> DeploymentConfig:
    return DeploymentConfig(
        strategy="shadow",
        shadow=ShadowConfig(requests=requests, **gate),
        canary=CanaryConfig(bake="1s"),
        guardrails=GuardrailConfig(min_requests=1, min_labels=10),
    )


def canary() -> DeploymentConfig:
    return DeploymentConfig(
        strategy="canary",
        canary=CanaryConfig(steps=(50, 100), bake="1s"),
        guardrails=GuardrailConfig(min_requests=1, min_labels=10),
    )


@pytest.fixture(scope="module")
def churn() -> Trained:
    return train_churn()


@pytest.fixture(scope="module")
def flipped() -> Trained:
    """A candidate trained with the target mapping reversed: it predicts the opposite class."""
    frame = churn_frame()
    frame["churned"] = np.where(frame["churned"] == "yes", "no", "yes")
    return train_model(
        frame, DatasetConfig(target="churned", estimator="logistic_regression"), CHURN_FEATURES
    )


@pytest.fixture
def stack(churn: Trained) -> Iterator[InferenceStack]:
    with inference_stack(
        POWERTOOLS_METRICS_NAMESPACE=NAMESPACE, VARIANT_METRICS_INTERVAL_SECONDS="0"
    ) as running:
        running.publish(NAME, churn)
        yield running


def record(i: int) -> dict[str, Any]:
    row = FRAME.iloc[i % len(FRAME)]
    return {
        column: (None if isinstance(row[column], float) and math.isnan(row[column]) else row[column])
        for column in CHURN_FEATURES
    }


def predict(
    stack: InferenceStack, i: int, name: str = NAME, body: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Request ``i`` (one row of FRAME, its own request id): (request id, body, headers)."""
    sample = load_event("inference/predict_records")
    request_id = str(uuid.uuid4())
    sample["path"] = f"/models/{name}/predict"
    sample["requestContext"]["requestId"] = request_id
    sample["headers"] = {**(sample.get("headers") or {}), "X-Routing-Key": f"client-{i}"}
    sample.pop("multiValueHeaders", None)
    sample["body"] = json.dumps(body or {"records": [record(i)]}, default=_plain)
    response = stack(sample)
    assert response["statusCode"] == 200, response["body"]
    headers = dict(response.get("headers") or {})
    headers.update({k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()})
    return request_id, json.loads(response["body"]), headers


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def check(
    stack: InferenceStack, rollout: Rollout, later_s: float = 0.0, name: str = NAME
) -> rollouts.CheckResult:
    stack.shipped()
    return rollouts.check(
        stack.registry,
        CloudWatchVariantMetrics(NAMESPACE),
        name,
        rollout.rollout_id,
        now=utcnow() + timedelta(seconds=later_s),
        evidence=CapturedEvidence(stack.registry, CAPTURE),
    )


def production_versions(stack: InferenceStack, name: str = NAME) -> list[int]:
    return [m.version for m in stack.registry.models.list_model_versions(name) if m.status == "production"]


def send_labels(
    request_ids: list[str], labels: list[Any], name: str = NAME, prefix: str = "ground-truth", extra: str = ""
) -> None:
    """One JSON Lines upload of ``labels`` (row 0 of each request) under ``<prefix>/<name>/``, then ``extra``."""
    lines = "".join(
        json.dumps({"request_id": rid, "row": 0, "label": label}) + "\n"
        for rid, label in zip(request_ids, labels, strict=True)
    )
    key = f"{prefix}/{name}/{uuid.uuid4().hex}.jsonl"
    aws.s3().put_object(Bucket=CAPTURE, Key=key, Body=(lines + extra).encode())


def test_a_shadow_that_agrees_is_promoted_and_never_answers(stack: InferenceStack, churn: Trained) -> None:
    candidate = stack.publish(NAME, churn, promote=False)
    rollout = rollouts.start(stack.registry, NAME, candidate.version, shadow(12), no_machine)
    assert rollout.strategy == "shadow" and rollout.current_weight == 0
    alias = stack.registry.models.get_alias(NAME)
    assert alias is not None and alias.candidate == candidate.version and alias.candidate_weight == 0
    for i in range(8):
        _, body, headers = predict(stack, i)
        # The candidate answers nothing: production's version, no variant in the body or the header.
        assert body["version"] == 1 and "variant" not in body
        assert headers["X-Model-Version"] == "1" and headers["X-Model-Variant"] == "production"
    waiting = check(stack, rollout)
    assert waiting.status == "running"
    assert stack.registry.models.get_rollout(NAME).observed["requests"] == 8  # type: ignore[union-attr]
    for i in range(8, 14):
        predict(stack, i)
    assert {line["version"] for line in stack.captured(NAME)} == {1}  # every answer was production's
    done = check(stack, rollout)
    assert done.status == "completed", done.reason
    assert done.reason is not None and "agreement 100.00%" in done.reason
    stored = stack.registry.models.get_rollout(NAME)
    assert stored is not None and stored.observed["requests"] == 12 and stored.observed["agreement"] == 1.0
    assert "inactive, no labels" in (stored.ground_truth or "")
    assert production_versions(stack) == [candidate.version]
    history = stack.registry.models.alias_history(NAME)
    assert [e.action for e in history[-2:]] == ["shadow", "shadow"]  # started, promoted
    assert history[-1].reason == done.reason
    # Served once the function's alias cache (ALIAS_TTL_SECONDS, 0.2 s here) expires.
    wait_for(lambda: predict(stack, 0)[1]["version"] == candidate.version, 10)


def test_a_shadow_that_disagrees_is_refused_with_its_figure(stack: InferenceStack, flipped: Trained) -> None:
    candidate = stack.publish(NAME, flipped, promote=False)
    rollout = rollouts.start(stack.registry, NAME, candidate.version, shadow(10), no_machine)
    for i in range(10):
        predict(stack, i)
    done = check(stack, rollout)
    assert done.status == "rolled_back"
    assert done.reason is not None
    assert "agreement with production" in done.reason and "below the gate 95.00%" in done.reason
    assert stack.registry.models.get_model_version(NAME, candidate.version).status == "rolled_back"
    alias = stack.registry.models.get_alias(NAME)
    assert alias is not None and alias.version == 1 and alias.candidate is None
    assert production_versions(stack) == [1]
    event = stack.registry.models.alias_history(NAME)[-1]
    assert event.action == "rollback" and event.reason == done.reason
    _, body, _ = predict(stack, 0)
    assert body["version"] == 1  # the loop goes on with production
    # The console's Rollouts page says why, with the figure beside its gate.
    page = rollouts_page.show(SimpleNamespace(registry=stack.registry), {"name": NAME})  # type: ignore[arg-type]
    assert page.title == f"Shadow of {NAME} v{candidate.version}"
    html = str(page.body)
    assert "below the gate 95.00%" in html and "agreement with production" in html


def test_a_regression_shadow_is_judged_on_relative_error() -> None:
    diabetes = train_diabetes()
    with inference_stack() as running:
        running.publish("diabetes", diabetes)
        candidate = running.publish("diabetes", diabetes, promote=False)
        rollout = rollouts.start(running.registry, "diabetes", candidate.version, shadow(5), no_machine)
        rows = diabetes.frame.drop(columns=["target"]).head(5).to_dict("records")
        for i, row in enumerate(rows):
            predict(running, i, "diabetes", {"records": [row]})
        done = check(running, rollout, name="diabetes")
        assert done.status == "completed", done.reason
        assert "mean relative error 0.00%" in (done.reason or "")


def test_rollback_stops_a_shadow_and_keeps_production(stack: InferenceStack, churn: Trained) -> None:
    candidate = stack.publish(NAME, churn, promote=False)
    rollout = rollouts.start(stack.registry, NAME, candidate.version, shadow(100), no_machine)
    move = deployments.rollback(stack.registry, NAME, None)
    assert move.after == 1 and "Stopped the shadow" in move.message
    assert check(stack, rollout).status == "aborted"
    assert production_versions(stack) == [1]


@pytest.mark.parametrize("attempt", range(3))
def test_a_promote_racing_a_shadow_leaves_exactly_one_production_version(
    stack: InferenceStack, churn: Trained, attempt: int
) -> None:
    candidate = stack.publish(NAME, churn, promote=False)
    other = stack.publish(NAME, churn, promote=False)
    relaxed = shadow(3).model_copy(update={"guardrails": GuardrailConfig(max_p99_latency_ms=600_000)})
    rollout = rollouts.start(stack.registry, NAME, candidate.version, relaxed, no_machine)
    for i in range(3):
        predict(stack, i)
    stack.shipped()
    race(lambda: deployments.promote(stack.registry, NAME, other.version), lambda: check(stack, rollout))
    current = stack.registry.models.get_rollout(NAME)
    assert current is not None
    if current.status == "running":
        check(stack, current)
    alias = stack.registry.models.get_alias(NAME)
    assert alias is not None and alias.candidate is None
    assert production_versions(stack) == [alias.version]
    assert stack.registry.models.get_rollout(NAME).status in {"aborted", "completed"}  # type: ignore[union-attr]


@pytest.mark.parametrize("prefix", ["ground-truth", "feedback"])
def test_a_canary_is_rolled_back_on_live_accuracy_from_ground_truth(
    stack: InferenceStack, flipped: Trained, prefix: str
) -> None:
    """Labels under ``ground-truth/`` judge the canary, and so do labels left under the deprecated
    ``feedback/``; a line that is not JSON is skipped, counted and named, and loses none of the rest."""
    candidate = stack.publish(NAME, flipped, promote=False)
    rollout = rollouts.start(stack.registry, NAME, candidate.version, canary(), no_machine)
    sent = [predict(stack, i) for i in range(60)]
    assert {body["variant"] for _, body, _ in sent} == {"production", "candidate"}
    truth = [FRAME.iloc[i]["churned"] for i in range(60)]
    send_labels([rid for rid, _, _ in sent], truth, prefix=prefix, extra="{not json\n")
    done = check(stack, rollout)
    assert done.status == "rolled_back"
    assert done.reason is not None and "live accuracy" in done.reason and "below production's" in done.reason
    stored = stack.registry.models.get_rollout(NAME)
    assert stored is not None
    assert stored.observed["candidate_accuracy"] < stored.observed["production_accuracy"] - 0.05
    assert stored.observed["skipped_label_lines"] == 1
    assert "1 label lines skipped (not a JSON object: 1)" in (stored.ground_truth or "")
    assert production_versions(stack) == [1]
    assert stack.registry.models.get_alias(NAME).candidate is None  # type: ignore[union-attr]


def test_one_label_upload_serves_the_rollout_guardrail_and_drift_quality(
    churn: Trained, flipped: Trained
) -> None:
    """Labels uploaded once, as CSV under ``ground-truth/<model>/``, give drift's live accuracy of
    production and the canary's guardrail the same figure on the same rows."""
    with inference_stack(
        POWERTOOLS_METRICS_NAMESPACE=NAMESPACE, VARIANT_METRICS_INTERVAL_SECONDS="0"
    ) as stack:
        stack.publish(NAME, churn, baseline=True)
        candidate = stack.publish(NAME, flipped, promote=False)
        rollout = rollouts.start(stack.registry, NAME, candidate.version, canary(), no_machine)
        sent = [predict(stack, i) for i in range(80)]
        truth = [str(FRAME.iloc[i]["churned"]) for i in range(80)]
        body = "request_id,row,label\n" + "".join(
            f"{rid},0,{label}\n" for (rid, _, _), label in zip(sent, truth, strict=True)
        )
        body += ",0,yes\n"  # no request id: skipped, counted, named
        aws.s3().put_object(Bucket=CAPTURE, Key=f"ground-truth/{NAME}/2026-03-14.csv", Body=body.encode())
        stack.shipped()

        # Drift first: the rollback below moves the alias, and a drift window starts at the alias's last move.
        settings = DriftSettings(
            metadata_table=TABLE,
            artifact_bucket=ARTIFACTS,
            capture_bucket=CAPTURE,
            state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:mlops-pipeline",
            metrics_namespace=NAMESPACE,
        )
        quality = run_drift(NAME, build_drift_deps(settings), settings).quality
        served = [
            (response["predictions"][0], label)
            for (_, response, _), label in zip(sent, truth, strict=True)
            if response["variant"] == "production"
        ]
        assert quality is not None and quality.labelled_rows == len(served) >= quality.min_rows
        assert quality.value == pytest.approx(sum(p == label for p, label in served) / len(served))
        assert quality.skipped_labels == {NO_REQUEST_ID: 1}

        done = check(stack, rollout)
        assert done.status == "rolled_back" and "live accuracy" in (done.reason or "")
        stored = stack.registry.models.get_rollout(NAME)
        assert stored is not None
        assert stored.observed["labelled_production_rows"] == quality.labelled_rows
        assert stored.observed["production_accuracy"] == pytest.approx(quality.value)
        assert "1 label lines skipped (no request_id: 1)" in (stored.ground_truth or "")


def test_without_labels_the_ground_truth_guardrail_is_inactive_and_says_so(
    stack: InferenceStack, flipped: Trained
) -> None:
    candidate = stack.publish(NAME, flipped, promote=False)
    rollout = rollouts.start(stack.registry, NAME, candidate.version, canary(), no_machine)
    for i in range(30):
        predict(stack, i)
    result = check(stack, rollout, later_s=2)
    assert result.status == "running"  # advanced, not rolled back: nothing says it is wrong
    stored = stack.registry.models.get_rollout(NAME)
    assert stored is not None and stored.current_weight == 100
    assert stored.ground_truth is not None and "inactive, no labels arrived" in stored.ground_truth
    assert "candidate_accuracy" not in stored.observed


def test_a_check_reads_only_the_labels_of_its_own_requests_uploaded_since_it_began() -> None:
    from datetime import UTC, datetime

    from tests.factories import moto_registry

    with moto_registry() as registry:
        aws.s3().create_bucket(Bucket=CAPTURE)
        send_labels(["mine-1", "mine-2", "someone-else"], ["yes", "no", "yes"])
        # A malformed upload among them loses nothing of the rest.
        aws.s3().put_object(
            Bucket=CAPTURE, Key=f"ground-truth/{NAME}/broken.jsonl", Body=b"{not json\n\x00\n"
        )
        evidence = CapturedEvidence(registry, CAPTURE)
        wanted = {("mine-1", 0), ("mine-2", 0), ("absent", 0)}
        now = datetime.now(UTC)
        labels = evidence.labels(NAME, now, wanted)
        assert labels.by_row == {("mine-1", 0): "yes", ("mine-2", 0): "no"}
        assert labels.skipped == {NOT_AN_OBJECT: 2}
        # Uploads older than the rollout (beyond the clock margin) are not read at all.
        later = now + LABEL_CLOCK_MARGIN + timedelta(minutes=1)
        assert evidence.labels(NAME, later, wanted).by_row == {}
