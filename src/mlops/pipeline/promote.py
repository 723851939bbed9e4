"""Review and promotion: the candidate against production on the candidate's holdout.

Both models are scored with onnxruntime on the same rows (what will actually serve): the candidate's
score is the one its parity gate recorded with the same model on those rows, when it did. The first model
must beat the trivial baseline (majority class or mean). The alias moves by a conditional write; when
another run moved it first, the candidate is reviewed again against the new production model, so two
runs finishing together can neither both win nor both lose.
"""

from __future__ import annotations

from mlops import rollouts
from mlops.config import DatasetConfig
from mlops.entities import ModelVersion
from mlops.errors import Conflict, StageOrderError, ValidationFailed
from mlops.pipeline.deps import Deps, run_config
from mlops.pipeline.payload import PromotionOutcome, RunPayload
from mlops.pipeline.runs import finish_run
from mlops.pipeline.stages import stage
from mlops.records import model_signature
from mlops.rollouts import Starter

MAX_ATTEMPTS = 5


def _score(deps: Deps, model: ModelVersion, holdout_bytes: bytes, config: DatasetConfig) -> float | None:
    """The model's promotion metric on the holdout, or None when it cannot read those rows."""
    from mlops.ml import dataset as ds
    from mlops.ml.convert import onnx_predict
    from mlops.ml.training import metrics

    signature = model_signature(deps.storage, model)
    assert signature is not None
    holdout = ds.read_parquet_bytes(holdout_bytes)
    if any(f.name not in holdout.columns for f in signature.features):
        return None
    labels, probabilities = onnx_predict(
        deps.storage.get_verified(model.artifacts["onnx"]), signature, holdout
    )
    y_true = holdout[config.target].to_numpy()
    scores = metrics(config.task, y_true, labels, probabilities, signature.classes)
    return scores.get(config.promotion_metric)


def _recorded_score(candidate: ModelVersion, metric: str) -> tuple[bool, float | None]:
    """(recorded?, the score): the metric as conversion's parity gate scored the candidate's ONNX model
    on its holdout, the rows and model ``_score`` would use (``mlops.ml.convert.check_parity``)."""
    recorded = candidate.parity.get("holdout_metrics") if candidate.parity.get("passed") else None
    if not isinstance(recorded, dict):
        return False, None
    value = recorded.get(metric)
    return True, None if value is None else float(value)


def new_model_line(production: ModelVersion, config: DatasetConfig) -> str | None:
    """Why the candidate starts a new model line (another target or task than production's), or None.

    Production's scores mean nothing for another target, so such a candidate is compared with the
    trivial baseline only, like a dataset's first model.
    """
    target = production.signature.target if production.signature else None
    changes = []
    if target is not None and target != config.target:
        changes.append(f"the target changed from {target!r} to {config.target!r}")
    if production.task != config.task:
        changes.append(f"the task changed from {production.task} to {config.task}")
    if not changes:
        return None
    return (
        f"New model line: {' and '.join(changes)} since production v{production.version}, so the candidate "
        "is compared with the trivial baseline only:"
    )


def review(
    deps: Deps, candidate: ModelVersion, config: DatasetConfig, hold: bool = False
) -> tuple[bool, str, int | None]:
    """(promote?, the reason in one sentence, production version compared with). With ``hold`` the
    alias is left where it is (the candidate waits for approval or starts a canary)."""
    from mlops.ml.training import is_worse

    metric = config.promotion_metric
    holdout: list[bytes] = []  # read once, when a model has to be scored on it

    def holdout_bytes() -> bytes:
        if not holdout:
            holdout.append(deps.storage.get_verified(candidate.artifacts["holdout"]))
        return holdout[0]

    recorded, own = _recorded_score(candidate, metric)
    if not recorded:
        own = _score(deps, candidate, holdout_bytes(), config)
    if own is None:
        return False, f"The candidate cannot score its own holdout on '{metric}'.", None
    for _ in range(MAX_ATTEMPTS):
        alias = deps.registry.models.get_alias(candidate.name)
        if alias is not None and alias.version == candidate.version:
            return True, "Already the production version.", alias.version
        production = deps.registry.models.get_model_version(candidate.name, alias.version) if alias else None
        changed = new_model_line(production, config) if production else None
        if production is None or changed is not None:
            baseline = candidate.baseline_metrics.get(metric)
            # Strictly better than the trivial model: the baseline must be "worse" with no tolerance.
            if baseline is not None and not is_worse(metric, baseline, own, 0.0):
                reason = f"{metric} {own:.4f} does not beat the trivial baseline's {baseline:.4f}."
                return False, f"{changed} {reason}" if changed else reason, None
            versus = f"the trivial baseline's {baseline:.4f}" if baseline is not None else "no baseline"
            reason = (
                f"{changed} {metric} {own:.4f} against {versus}."
                if changed
                else f"First model: {metric} {own:.4f} against {versus}."
            )
        else:
            try:
                theirs = _score(deps, production, holdout_bytes(), config)
            except ValidationFailed:  # a column production reads as numbers is text now
                theirs = None
            if theirs is None:
                reason = (
                    f"Production v{production.version} cannot score the new data's columns; "
                    f"the candidate ({metric} {own:.4f}) replaces it."
                )
            elif is_worse(metric, own, theirs, config.promotion.tolerance):
                reason = (
                    f"{metric} {own:.4f} is worse than production v{production.version}'s {theirs:.4f} "
                    f"beyond the tolerance {config.promotion.tolerance}."
                )
                return False, reason, production.version
            else:
                reason = (
                    f"{metric} {own:.4f} vs production v{production.version}'s {theirs:.4f} "
                    f"(tolerance {config.promotion.tolerance})."
                )
        if hold:
            return True, reason, alias.version if alias else None
        try:
            deps.registry.models.move_alias(
                candidate.name, candidate.version, alias, "promote", candidate.run_id, reason
            )
            return True, reason, alias.version if alias else None
        except Conflict:
            continue  # another run moved production: review again against the new one
    return False, "The production alias kept moving; the candidate was not promoted.", None


def _held(
    deps: Deps, candidate: ModelVersion, config: DatasetConfig, reason: str, starter: Starter | None
) -> tuple[bool, str, str | None]:
    """A candidate that passed review under manual approval or a canary: (promoted, decision, rollout)."""
    name, version = candidate.name, candidate.version
    if config.deployment.approval == "manual":
        deps.registry.models.set_model_status(name, version, "pending_approval", reason)
        return (
            False,
            f"{reason} Waiting for approval: mlops models approve {name} {version} --reason TEXT "
            "(or reject); production is unchanged.",
            None,
        )
    alias = deps.registry.models.get_alias(name)
    if alias is None or starter is None:  # a first model has nothing to canary against
        deps.registry.models.move_alias(name, version, alias, "promote", candidate.run_id, reason)
        return True, reason, None
    rollout = rollouts.start(
        deps.registry, name, version, config.deployment, starter, run_id=candidate.run_id
    )
    steps = " -> ".join(f"{s}%" for s in rollout.steps)
    plan = (
        f"scoring {rollout.shadow_requests} production requests without answering"
        if rollout.strategy == "shadow"
        else f"{steps}, {config.deployment.canary.bake} each"
    )
    return (
        False,
        f"{reason} Started {rollout.strategy} rollout {rollout.rollout_id} of v{version} ({plan}); "
        f"see mlops rollouts show {name}.",
        rollout.rollout_id,
    )


def promote_run(deps: Deps, payload: RunPayload, starter: Starter | None = None) -> RunPayload:
    if payload.conversion is None:
        raise StageOrderError("The run reached promotion without a converted model.")
    with stage(deps.registry.runs, payload.run_id, "promotion") as log:
        config = run_config(deps, payload)
        candidate = deps.registry.models.get_model_version(payload.dataset, payload.conversion.model_version)
        deployment = config.deployment
        hold = deployment.approval == "manual" or deployment.strategy != "direct"
        promoted, decision, production = review(deps, candidate, config, hold=hold)
        rollout_id = None
        if promoted and hold and production != candidate.version:
            promoted, decision, rollout_id = _held(deps, candidate, config, decision, starter)
        elif not promoted:
            deps.registry.models.set_model_status(candidate.name, candidate.version, "rejected", decision)
        log.summary.update(promoted=promoted, decision=decision, compared_with=production)
        if rollout_id:
            log.summary["rollout"] = rollout_id
    finish_run(deps, payload.run_id, "SUCCEEDED", promoted=promoted, decision=decision)
    outcome = PromotionOutcome(
        model_version=candidate.version, promoted=promoted, decision=decision, production_version=production
    )
    return payload.model_copy(update={"promotion": outcome})
