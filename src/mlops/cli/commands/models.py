"""``mlops models list|promote|rollback``: the model versions and the production alias."""

from __future__ import annotations

import argparse
from typing import Any

from mlops.cli import render
from mlops.cli.errors import EXIT_OK, CliError
from mlops.cli.stack import Context
from mlops.errors import Conflict
from mlops.models import Alias, AliasEvent, ModelVersion
from mlops.registry import Registry

LIST_FIELDS = ("name", "version", "status", "metrics", "dataset_version", "created_at")


def model_row(model: ModelVersion) -> dict[str, Any]:
    """A model version as ``models list --json`` prints it (CONTRACT §3)."""
    document = model.model_dump(mode="json")
    return {name: document[name] for name in LIST_FIELDS}


def models_list(args: argparse.Namespace, ctx: Context) -> int:
    models = ctx.registry.list_model_versions(args.name)
    if args.name and not models:
        raise CliError(f"No model named '{args.name}'.")
    models.sort(key=lambda m: (m.name, -m.version))
    if args.json:
        ctx.say(render.to_json([model_row(m) for m in models]))
        return EXIT_OK
    rows = [
        (
            m.name,
            m.version,
            m.status,
            render.metrics(m.metrics, limit=3),
            render.short_sha(m.dataset_version),
            m.created_at,
        )
        for m in models
    ]
    headers = ("NAME", "VERSION", "STATUS", "METRICS", "DATASET_VERSION", "CREATED")
    ctx.say(render.table(headers, rows, empty="No models yet."))
    return EXIT_OK


def servable(model: ModelVersion) -> None:
    """Refuse versions the inference function could not load: no ONNX, or ONNX that failed parity."""
    label = f"Model '{model.name}' version {model.version}"
    if "onnx" not in model.artifacts:
        raise CliError(
            f"{label} has no ONNX artifact (its conversion failed or never ran), so it cannot serve."
        )
    if model.parity and model.parity.get("passed") is False:
        detail = model.parity.get("message") or "its ONNX predictions differ from scikit-learn's"
        raise CliError(
            f"{label} failed the ONNX parity gate ({str(detail).rstrip('.')}), so it cannot serve."
        )


def move(
    registry: Registry, name: str, version: int, expected: Alias | None, action: str, reason: str
) -> Alias:
    try:
        return registry.move_alias(name, version, expected=expected, action=action, reason=reason)
    except Conflict as error:
        raise CliError(f"The production alias of '{name}' moved concurrently; try again.") from error


def models_promote(args: argparse.Namespace, ctx: Context) -> int:
    registry = ctx.registry
    model = registry.get_model_version(args.name, args.version)
    alias = registry.get_alias(args.name)
    if alias is not None and alias.version == model.version:
        ctx.say(f"'{args.name}' v{model.version} is already the production version.")
        return EXIT_OK
    servable(model)
    before = f"v{alias.version}" if alias else "none"
    reason = args.reason or f"Promoted by hand (production was {before})."
    move(registry, args.name, model.version, alias, "manual", reason)
    ctx.say(f"Production of '{args.name}' moved from {before} to v{model.version}.")
    return EXIT_OK


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


def models_rollback(args: argparse.Namespace, ctx: Context) -> int:
    registry = ctx.registry
    alias = registry.get_alias(args.name)
    if alias is None:
        if not registry.list_model_versions(args.name):
            raise CliError(f"No model named '{args.name}'.")
        raise CliError(f"'{args.name}' has no production version to roll back from.")
    target = rollback_target(registry.alias_history(args.name), alias.version)
    if target is None:
        raise CliError(
            f"'{args.name}' has no earlier production version than v{alias.version} to roll back to."
        )
    model = registry.get_model_version(args.name, target)
    servable(model)
    reason = args.reason or f"Rolled back by hand from v{alias.version}."
    move(registry, args.name, target, alias, "rollback", reason)
    ctx.say(f"Rolled back '{args.name}' production from v{alias.version} to v{target}.")
    return EXIT_OK
