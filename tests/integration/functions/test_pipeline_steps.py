"""Validation, training, conversion, promotion and the failure recorder, each handed its event."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from mlops.config import DatasetConfig
from mlops.local.embedded import EmbeddedStack
from mlops.registry import Registry
from tests.events import load_event
from tests.integration.functions.conftest import ingest_iris, invoke, iris_frame, run_through

STEPS = ("validation", "training", "conversion", "promotion")


def test_sample_events_parse(stack: EmbeddedStack) -> None:
    from mlops.pipeline.payload import RunPayload

    for name in STEPS:
        assert RunPayload.model_validate(load_event(f"{name}/run_payload")).dataset == "iris"
    failure = RunPayload.model_validate(load_event("failure/caught_validation_error"))
    assert failure.error is not None and "single class" in failure.error.message


def test_steps_take_a_run_to_production(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    payload = run_through(stack, ingest_iris(stack, registry, ds), *STEPS)
    assert payload["validation"]["passed"] and payload["training"]["status"] == "Completed"
    assert payload["conversion"]["parity"]["passed"]
    assert payload["promotion"]["promoted"] and payload["promotion"].get("production_version") is None
    run = registry.runs.get_run(payload["run_id"])
    assert run.status == "SUCCEEDED" and run.promoted and run.model_version == 1
    model = registry.models.get_production(ds)
    assert model is not None and model.status == "production" and model.parity["passed"]
    # A redelivered promotion event changes nothing.
    again = invoke(stack, "promotion", payload)
    assert not again.failed and again.payload["promotion"]["promoted"]
    assert [e.version for e in registry.models.alias_history(ds)] == [1]


def test_promotion_takes_the_candidate_s_score_from_its_parity_gate(
    stack: EmbeddedStack, registry: Registry, ds: str
) -> None:
    """Conversion scored the candidate's ONNX model on its holdout; promotion does not score it again."""
    from mlops.pipeline.deps import build_deps
    from mlops.pipeline.promote import _score, review

    payload = run_through(stack, ingest_iris(stack, registry, ds), "validation", "training", "conversion")
    candidate = registry.models.get_model_version(ds, payload["conversion"]["model_version"])
    recorded = candidate.parity["holdout_metrics"]
    assert set(recorded) == {"accuracy", "f1_macro", "log_loss", "roc_auc"}
    deps = build_deps(
        registry.table.name, stack.stack.outputs["DataBucketName"], stack.stack.outputs["ArtifactBucketName"]
    )
    holdout = deps.storage.get_verified(candidate.artifacts["holdout"])
    for metric in recorded:
        config = DatasetConfig(target="species", promotion={"metric": metric})
        assert _score(deps, candidate, holdout, config) == recorded[metric]  # the same figure, exactly
    # The recorded figure is the one compared: one that cannot beat the trivial baseline is refused.
    config = registry.datasets.get_config(ds)
    worse = {**candidate.parity, "holdout_metrics": {**recorded, config.promotion_metric: 0.0}}
    promoted, reason, _ = review(deps, candidate.model_copy(update={"parity": worse}), config)
    assert not promoted and reason.startswith(f"{config.promotion_metric} 0.0000 does not beat")
    # A candidate converted without the figures (an earlier release) is scored as before.
    unrecorded = {k: v for k, v in candidate.parity.items() if k != "holdout_metrics"}
    promoted, reason, _ = review(deps, candidate.model_copy(update={"parity": unrecorded}), config)
    assert promoted and reason.startswith(
        f"First model: {config.promotion_metric} {recorded[config.promotion_metric]:.4f}"
    )


def _fail_validation(
    stack: EmbeddedStack, registry: Registry, ds: str, frame: Any, config: DatasetConfig
) -> str:
    payload = ingest_iris(stack, registry, ds, frame=frame)
    registry.datasets.put_config(ds, config)
    result = invoke(stack, "validation", payload)
    assert result.failed and result.error_type == "ValidationFailed"
    message: str = result.payload["errorMessage"]
    return message


def test_missing_target_column_fails_validation(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    message = _fail_validation(stack, registry, ds, iris_frame(), DatasetConfig(target="label"))
    assert "'label'" in message and "not in the file" in message


def test_single_class_fails_validation(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    frame = iris_frame()
    frame["species"] = "setosa"
    message = _fail_validation(stack, registry, ds, frame, DatasetConfig(target="species"))
    assert "single class" in message and "'species'" in message


def test_all_missing_target_fails_validation(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    frame = iris_frame()
    frame["species"] = np.nan
    message = _fail_validation(stack, registry, ds, frame, DatasetConfig(target="species"))
    assert "'species'" in message and ("no values" in message or "missing" in message)


def test_schema_mismatch_with_earlier_version_fails(
    stack: EmbeddedStack, registry: Registry, ds: str
) -> None:
    run_through(stack, ingest_iris(stack, registry, ds), "validation")
    changed = iris_frame().drop(columns=["petal width (cm)"])
    payload = ingest_iris(stack, registry, ds, frame=changed)
    result = invoke(stack, "validation", payload)
    assert result.failed and "'petal width (cm)'" in result.payload["errorMessage"]
    assert "last accepted version" in result.payload["errorMessage"]


def test_failure_recorder_ends_the_run(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    payload = ingest_iris(stack, registry, ds)
    registry.datasets.put_config(ds, DatasetConfig(target="nope"))
    error = invoke(stack, "validation", payload).payload
    caught = {
        **payload,
        "failed_stage": "validation",
        "error": {"Error": error["errorType"], "Cause": __import__("json").dumps(error)},
    }
    assert not invoke(stack, "failure", caught).failed
    run = registry.runs.get_run(payload["run_id"])
    assert run.status == "FAILED" and run.failed_stage == "validation" and "'nope'" in (run.error or "")
    assert [s.status for s in run.stages if s.name == "validation"] == ["FAILED"]
    assert registry.models.get_alias(ds) is None


def test_racing_promotions_never_both_win_or_lose(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    from mlops.pipeline.deps import build_deps
    from mlops.pipeline.promote import review

    first = run_through(stack, ingest_iris(stack, registry, ds), *STEPS)
    assert first["promotion"]["promoted"]
    # Two more candidates trained on the same data finish together.
    candidates = []
    for rows in (slice(0, 149), slice(1, 150)):
        payload = ingest_iris(stack, registry, ds, frame=iris_frame().iloc[rows])
        candidates.append(run_through(stack, payload, "validation", "training", "conversion"))
    registry.datasets.put_config(ds, DatasetConfig(target="species", promotion={"tolerance": 1.0}))
    deps = build_deps(
        registry.table.name, stack.stack.outputs["DataBucketName"], stack.stack.outputs["ArtifactBucketName"]
    )
    config = registry.datasets.get_config(ds)
    results: list[tuple[bool, str, int | None]] = []
    barrier = threading.Barrier(len(candidates))

    def promote(payload: dict[str, Any]) -> None:
        candidate = registry.models.get_model_version(ds, payload["conversion"]["model_version"])
        barrier.wait()
        results.append(review(deps, candidate, config))

    threads = [threading.Thread(target=promote, args=(c,)) for c in candidates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(promoted for promoted, _, _ in results), results  # within tolerance: both promote, in turn
    history = registry.models.alias_history(ds)
    assert [e.revision for e in history] == [1, 2, 3]
    assert history[2].from_version == history[1].version  # each move saw the one before it
    alias = registry.models.get_alias(ds)
    assert alias is not None and alias.version == history[2].version
    statuses = {m.version: m.status for m in registry.models.list_model_versions(ds)}
    assert list(statuses.values()).count("production") == 1


def test_worse_candidate_is_rejected_and_production_kept(
    stack: EmbeddedStack, registry: Registry, ds: str
) -> None:
    run_through(stack, ingest_iris(stack, registry, ds), *STEPS)
    # Almost no capacity: a clearly worse model on the same kind of data.
    weak = DatasetConfig(target="species", estimator="logistic_regression", params={"C": 1e-6})
    payload = ingest_iris(stack, registry, ds, frame=iris_frame().iloc[::-1])
    registry.datasets.put_config(ds, weak)
    payload = run_through(stack, payload, *STEPS)
    assert (
        not payload["promotion"]["promoted"] and "worse than production" in payload["promotion"]["decision"]
    )
    assert registry.models.get_alias(ds).version == 1  # type: ignore[union-attr]
    rejected = registry.models.get_model_version(ds, payload["promotion"]["model_version"])
    assert rejected.status == "rejected" and rejected.decision_reason


def test_retried_training_registers_one_candidate(stack: EmbeddedStack, registry: Registry, ds: str) -> None:
    payload = run_through(stack, ingest_iris(stack, registry, ds), "validation")
    first = invoke(stack, "training", payload).payload
    again = invoke(stack, "training", payload).payload  # Step Functions retried the task
    assert first["training"]["model_version"] == again["training"]["model_version"] == 1
    assert [m.version for m in registry.models.list_model_versions(ds)] == [1]
