"""``mlops models approve|reject|rollout`` and ``mlops rollouts show``: deciding and rolling out candidates."""

from __future__ import annotations

import argparse
from typing import Any

from mlops import deployments, rollouts
from mlops.aws import caller_identity
from mlops.cli import render
from mlops.cli.connection import Context
from mlops.cli.errors import EXIT_OK, CliError
from mlops.config import DeploymentConfig, parse_duration
from mlops.entities import ModelVersion, Rollout
from mlops.rollout_starter import StepFunctionsStarter

SHOW_FIELDS = (
    "version",
    "strategy",
    "status",
    "steps",
    "current_weight",
    "guardrails",
    "shadow_requests",
    "ground_truth",
    "reason",
    "baseline",
    "observed",
    "started_at",
    "ended_at",
    "history",
)


def canary_steps(text: str) -> list[int]:
    """``10,50,100`` as steps (argparse type)."""
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of percents like 10,50,100") from None
    if not steps or steps != sorted(set(steps)) or steps[0] < 1 or steps[-1] != 100:
        raise argparse.ArgumentTypeError("canary steps must rise strictly from at least 1 and end at 100")
    return steps


def bake_duration(text: str) -> float:
    """``30s``, ``10m``, ``1h`` in seconds (argparse type)."""
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _deployment(ctx: Context, name: str) -> DeploymentConfig:
    config = ctx.registry.datasets.find_config(name)
    return config.deployment if config is not None else DeploymentConfig()


def _starter(
    ctx: Context, steps: list[int] | None = None, bake_s: float | None = None, shadow: int | None = None
) -> Any:
    def start(model: ModelVersion) -> str:
        rollout = rollouts.start(
            ctx.registry,
            model.name,
            model.version,
            _deployment(ctx, model.name),
            StepFunctionsStarter(ctx.outputs.rollout_state_machine_arn),
            steps=steps,
            bake_seconds=bake_s,
            actor=caller_identity(),
            run_id=model.run_id,
            shadow_requests=shadow,
        )
        return started_message(rollout)

    return start


def started_message(rollout: Rollout) -> str:
    if rollout.strategy == "shadow":
        return (
            f"Started shadow {rollout.rollout_id} of '{rollout.name}' v{rollout.version} beside "
            f"v{rollout.baseline}: it scores the next {rollout.shadow_requests} production requests without "
            f"answering; follow it with `mlops rollouts show {rollout.name}`."
        )
    steps = " -> ".join(f"{s}%" for s in rollout.steps)
    return (
        f"Started canary {rollout.rollout_id} of '{rollout.name}' v{rollout.version} beside v{rollout.baseline}: "
        f"{steps}, {rollout.bake_seconds:g} s each; follow it with `mlops rollouts show {rollout.name}`."
    )


def models_approve(args: argparse.Namespace, ctx: Context) -> int:
    gradual = _deployment(ctx, args.name).strategy != "direct"
    starter = _starter(ctx) if gradual else None
    ctx.say(
        deployments.approve(ctx.registry, args.name, args.version, args.reason, caller_identity(), starter)
    )
    return EXIT_OK


def models_reject(args: argparse.Namespace, ctx: Context) -> int:
    ctx.say(deployments.reject(ctx.registry, args.name, args.version, args.reason, caller_identity()))
    return EXIT_OK


def models_rollout(args: argparse.Namespace, ctx: Context) -> int:
    model = ctx.registry.models.get_model_version(args.name, args.version)
    if model.status == "pending_approval":
        raise CliError(f"'{args.name}' v{args.version} waits for approval; approve it first.")
    ctx.say(_starter(ctx, args.canary, args.bake, args.shadow)(model))
    return EXIT_OK


def rollout_document(rollout: Rollout) -> dict[str, Any]:
    document = rollout.model_dump(mode="json")
    return {"name": rollout.name, "rollout_id": rollout.rollout_id, **{k: document[k] for k in SHOW_FIELDS}}


def rollouts_show(args: argparse.Namespace, ctx: Context) -> int:
    rollout = ctx.registry.models.get_rollout(args.name)
    if rollout is None:
        if not ctx.registry.models.list_model_versions(args.name):
            raise CliError(f"No model named '{args.name}'.")
        raise CliError(f"'{args.name}' has had no rollout yet; start one with `mlops models rollout`.")
    if args.json:
        ctx.say(render.to_json(rollout_document(rollout)))
        return EXIT_OK
    steps = " -> ".join(f"{s}%" for s in rollout.steps)
    if rollout.strategy == "shadow":
        plan = ("shadow", f"{rollout.shadow_requests} production requests scored, none answered")
    else:
        plan = ("steps", f"{steps}, {rollout.bake_seconds:g} s each")
    rows = [
        ("model", f"{rollout.name} v{rollout.version} (beside v{rollout.baseline})"),
        ("rollout", rollout.rollout_id),
        ("status", rollout.status),
        plan,
        ("weight", f"{rollout.current_weight:g}%"),
        ("guardrails", ", ".join(f"{k} {v:g}" for k, v in rollout.guardrails.items())),
        ("observed", ", ".join(f"{k} {v:g}" for k, v in rollout.observed.items()) or "nothing yet"),
        ("ground truth", rollout.ground_truth or "-"),
        ("started", rollout.started_at),
        ("ended", rollout.ended_at or "-"),
        ("reason", rollout.reason or "-"),
    ]
    ctx.say(render.fields(rows, indent=""))
    ctx.say()
    history = [
        (h.get("at", ""), h.get("event", ""), f"{h.get('weight', 0):g}%", h.get("detail", ""))
        for h in rollout.history
    ]
    ctx.say(render.table(("AT", "EVENT", "WEIGHT", "DETAIL"), history, empty="No steps yet."))
    return EXIT_OK
