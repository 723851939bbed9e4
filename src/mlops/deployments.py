"""Moving the production alias by hand: promote a version, roll back to the one before, and decide a
candidate that waits for approval.

The CLI (``mlops models promote|rollback``) and the web console both call these, so the checks (the
version can serve), the conditional write (the alias moves only from the revision the caller saw)
and the messages are the same wherever a person asks.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from mlops.entities import Alias, AliasEvent, Decision, ModelVersion, utcnow
from mlops.errors import Conflict, MlopsError, NotFound
from mlops.registry import Registry

# Starts a canary of a version once it is approved (``mlops.rollouts.start`` with the stack's
# adapters); returns the sentence saying so.
RolloutStarter = Callable[[ModelVersion], str]


class NotServable(MlopsError):
    """The version cannot be loaded by the inference function (no ONNX, or parity failed)."""


@dataclass(frozen=True)
class AliasMove:
    """What a promote or rollback did: ``before`` is None when there was no production version."""

    name: str
    before: int | None
    after: int
    moved: bool
    message: str


def servable(model: ModelVersion) -> None:
    """Refuse versions the inference function could not load: no ONNX, or ONNX that failed parity."""
    label = f"Model '{model.name}' version {model.version}"
    if "onnx" not in model.artifacts:
        raise NotServable(
            f"{label} has no ONNX artifact (its conversion failed or never ran), so it cannot serve."
        )
    if model.parity and model.parity.get("passed") is False:
        detail = model.parity.get("message") or "its ONNX predictions differ from scikit-learn's"
        raise NotServable(
            f"{label} failed the ONNX parity gate ({str(detail).rstrip('.')}), so it cannot serve."
        )


def move(
    registry: Registry, name: str, version: int, expected: Alias | None, action: str, reason: str
) -> Alias:
    """The conditional write: the alias moves only if it is still ``expected``."""
    try:
        return registry.models.move_alias(name, version, expected=expected, action=action, reason=reason)
    except Conflict as error:
        raise Conflict(f"The production alias of '{name}' moved concurrently; try again.") from error


def _current_alias(registry: Registry, name: str, seen_revision: int | None) -> Alias | None:
    """The alias now; with ``seen_revision`` (what a page showed), refuse if it moved since."""
    alias = registry.models.get_alias(name)
    if seen_revision is not None and (alias.revision if alias else 0) != seen_revision:
        now = f"v{alias.version}" if alias else "none"
        raise Conflict(
            f"The production alias of '{name}' moved since you looked (now {now}); review and try again."
        )
    return alias


def promote(
    registry: Registry,
    name: str,
    version: int,
    reason: str | None = None,
    seen_revision: int | None = None,
) -> AliasMove:
    """Point production at ``version`` (action ``manual`` in the alias history)."""
    model = registry.models.get_model_version(name, version)
    alias = _current_alias(registry, name, seen_revision)
    if alias is not None and alias.version == model.version:
        return AliasMove(
            name,
            alias.version,
            model.version,
            False,
            f"'{name}' v{model.version} is already the production version.",
        )
    servable(model)
    before = f"v{alias.version}" if alias else "none"
    move(
        registry,
        name,
        model.version,
        alias,
        "manual",
        reason or f"Promoted by hand (production was {before}).",
    )
    end_rollout(registry, name, "aborted", f"Production was promoted by hand to v{model.version}.")
    return AliasMove(
        name,
        alias.version if alias else None,
        model.version,
        True,
        f"Production of '{name}' moved from {before} to v{model.version}.",
    )


def deployment_stack(history: list[AliasEvent]) -> list[int]:
    """The versions production went through, a rollback undoing the move before it.

    v1, v2, v3 then a rollback to v2 leaves [1, 2]: a second rollback returns to v1, not back to v3.
    """
    stack: list[int] = []
    for event in sorted(history, key=lambda e: e.revision):
        if event.action == "rollback" and stack:
            stack.pop()
            if stack and stack[-1] == event.version:
                continue
        if not stack or stack[-1] != event.version:
            stack.append(event.version)
    return stack


def rollback_target(history: list[AliasEvent], current: int) -> int | None:
    stack = deployment_stack(history)
    if not stack or stack[-1] != current:
        stack.append(current)  # the alias moved without a history entry: trust the alias
    earlier = [v for v in stack[:-1] if v != current]
    return earlier[-1] if earlier else None


def rollback(
    registry: Registry, name: str, reason: str | None = None, seen_revision: int | None = None
) -> AliasMove:
    """Return production to the version before the current one."""
    alias = _current_alias(registry, name, seen_revision)
    if alias is not None and alias.candidate is not None:
        return _stop_canary(registry, alias, reason)
    if alias is None:
        if not registry.models.list_model_versions(name):
            raise NotFound(f"No model named '{name}'.")
        raise Conflict(f"'{name}' has no production version to roll back from.")
    target = rollback_target(registry.models.alias_history(name), alias.version)
    if target is None:
        raise Conflict(f"'{name}' has no earlier production version than v{alias.version} to roll back to.")
    servable(registry.models.get_model_version(name, target))
    move(registry, name, target, alias, "rollback", reason or f"Rolled back by hand from v{alias.version}.")
    return AliasMove(
        name,
        alias.version,
        target,
        True,
        f"Rolled back '{name}' production from v{alias.version} to v{target}.",
    )


def end_rollout(registry: Registry, name: str, status: str, reason: str) -> None:
    """Record a running rollout as ended (a hand-made move of production stops it)."""
    current = registry.models.get_rollout(name)
    if current is None or current.status != "running":
        return
    entry = {"at": utcnow().isoformat(), "event": status, "weight": 0.0, "detail": reason}
    ended = current.model_copy(
        update={
            "status": status,
            "reason": reason,
            "ended_at": utcnow(),
            "current_weight": 0.0,
            "history": [*current.history, entry],
        }
    )
    with suppress(Conflict):  # the rollout's own check ended it first
        registry.models.save_rollout(ended, expected=current)


def _stop_canary(registry: Registry, alias: Alias, reason: str | None) -> AliasMove:
    """``rollback`` during a canary or shadow: the candidate gets no more traffic; production stays."""
    candidate = alias.candidate
    assert candidate is not None
    kind = "Shadow" if alias.candidate_weight <= 0 else "Canary"
    why = reason or f"{kind} of v{candidate} rolled back by hand."
    try:
        registry.models.set_candidate(alias, None, 0.0, "rollback", why, status="rolled_back")
    except Conflict as error:
        raise Conflict(f"The production alias of '{alias.name}' moved concurrently; try again.") from error
    end_rollout(registry, alias.name, "aborted", why)
    return AliasMove(
        alias.name,
        alias.version,
        alias.version,
        True,
        f"Stopped the {kind.lower()} of '{alias.name}' v{candidate}; v{alias.version} answers every request.",
    )


def pending(registry: Registry, name: str, version: int) -> ModelVersion:
    """The version, if it waits for a decision (else Conflict)."""
    model = registry.models.get_model_version(name, version)
    if model.status != "pending_approval":
        raise Conflict(f"'{name}' v{version} is {model.status}, not pending_approval; nothing to decide.")
    return model


def approve(
    registry: Registry,
    name: str,
    version: int,
    reason: str,
    actor: str,
    start_rollout: RolloutStarter | None = None,
) -> str:
    """Approve a ``pending_approval`` candidate: production moves to it (strategy direct), or its
    canary starts (``start_rollout``). The decision, the caller's identity and the reason are kept
    on the version and in the alias history."""
    model = pending(registry, name, version)
    servable(model)
    decision = Decision(action="approve", actor=actor, reason=reason)
    alias = registry.models.get_alias(name)
    if start_rollout is not None and alias is not None:  # a first model has nothing to canary against
        message = start_rollout(model)
        registry.models.put_model_version(
            registry.models.get_model_version(name, version).model_copy(update={"approval": decision})
        )
        return message
    registry.models.put_model_version(model.model_copy(update={"approval": decision, "status": "candidate"}))
    registry.models.move_alias(name, version, alias, "approve", model.run_id, reason, actor)
    before = f"v{alias.version}" if alias else "none"
    return f"Approved '{name}' v{version}: production moved from {before} to v{version}."


def reject(registry: Registry, name: str, version: int, reason: str, actor: str) -> str:
    """Reject a ``pending_approval`` candidate; production does not change."""
    model = pending(registry, name, version)
    decision = Decision(action="reject", actor=actor, reason=reason)
    update = {"approval": decision, "status": "rejected", "decision_reason": f"Rejected by {actor}: {reason}"}
    registry.models.put_model_version(model.model_copy(update=update))
    return f"Rejected '{name}' v{version}; production is unchanged."
