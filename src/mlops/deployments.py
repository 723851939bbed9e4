"""Moving the production alias by hand: promote a version, roll back to the one before.

The CLI (``mlops models promote|rollback``) and the web console both call these, so the checks (the
version can serve), the conditional write (the alias moves only from the revision the caller saw)
and the messages are the same wherever a person asks.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops.errors import Conflict, MlopsError, NotFound
from mlops.models import Alias, AliasEvent, ModelVersion
from mlops.registry import Registry


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
        return registry.move_alias(name, version, expected=expected, action=action, reason=reason)
    except Conflict as error:
        raise Conflict(f"The production alias of '{name}' moved concurrently; try again.") from error


def _current_alias(registry: Registry, name: str, seen_revision: int | None) -> Alias | None:
    """The alias now; with ``seen_revision`` (what a page showed), refuse if it moved since."""
    alias = registry.get_alias(name)
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
    model = registry.get_model_version(name, version)
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
    if alias is None:
        if not registry.list_model_versions(name):
            raise NotFound(f"No model named '{name}'.")
        raise Conflict(f"'{name}' has no production version to roll back from.")
    target = rollback_target(registry.alias_history(name), alias.version)
    if target is None:
        raise Conflict(f"'{name}' has no earlier production version than v{alias.version} to roll back to.")
    servable(registry.get_model_version(name, target))
    move(registry, name, target, alias, "rollback", reason or f"Rolled back by hand from v{alias.version}.")
    return AliasMove(
        name,
        alias.version,
        target,
        True,
        f"Rolled back '{name}' production from v{alias.version} to v{target}.",
    )
