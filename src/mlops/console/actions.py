"""The console's state-changing actions: each one asks first, then calls the CLI's domain function.

``GET /actions/NAME?...`` shows what would change and a form; ``POST /actions/NAME`` (with the
console's CSRF token) does it. The form carries the alias revision the person saw, and the domain
function moves the alias only from that revision (the same conditional write as the CLI's), so a
change made elsewhere in between is refused rather than overwritten.

To add an action (approve and reject of a pending candidate, a rollout's abort), write its
``confirm`` and ``perform`` and add it to ``ACTIONS``; the routes, the confirmation page and the
guards are shared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mlops import deployments, rollouts
from mlops.aws import caller_identity
from mlops.cli import render
from mlops.cli.connection import read_outputs
from mlops.console.app import BadRequest, Context, Page, Response, Route, Section, redirect
from mlops.console.html import Html, attr, fields, h, join, notice, path
from mlops.entities import ModelVersion
from mlops.errors import Conflict, MlopsError
from mlops.rollout_starter import StepFunctionsStarter


@dataclass(frozen=True)
class Confirmation:
    """What the confirmation page shows and what its form sends back."""

    question: str
    details: list[tuple[str, object]]
    state: dict[str, object]
    button: str
    back: str
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Action:
    name: str
    confirm: Callable[[Context], Confirmation]
    perform: Callable[[Context], str]
    back: Callable[[Context], str]


def _number(ctx: Context, name: str, what: str) -> int:
    text = ctx.param(name)
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"'{text}' is not {what}.") from None


def _version(ctx: Context) -> int:
    return _number(ctx, "version", "a version number")


def _seen_revision(ctx: Context) -> int:
    return _number(ctx, "seen_revision", "an alias revision")


def _model_back(ctx: Context) -> str:
    return path("models", ctx.param("model"))


def confirm_promote(ctx: Context) -> Confirmation:
    name, version = ctx.param("model"), _version(ctx)
    model = ctx.registry.models.get_model_version(name, version)
    alias = ctx.registry.models.get_alias(name)
    if alias is not None and alias.version == version:
        raise Conflict(f"'{name}' v{version} is already the production version.")
    deployments.servable(model)
    current = ctx.registry.models.get_model_version(name, alias.version) if alias else None
    return Confirmation(
        question=f"Promote {name} v{version} to production?",
        details=[
            (
                "production now",
                f"v{current.version}: {render.metrics(current.metrics)}" if current else "none",
            ),
            ("after", f"v{version}: {render.metrics(model.metrics)}"),
            ("status of v" + str(version), model.status),
            ("its decision", model.decision_reason),
        ],
        state={"model": name, "version": version, "seen_revision": alias.revision if alias else 0},
        button=f"Promote v{version}",
        back=path("models", name),
        notes=["Requests are served by the new version as soon as the alias moves."],
    )


def perform_promote(ctx: Context) -> str:
    moved = deployments.promote(
        ctx.registry, ctx.param("model"), _version(ctx), ctx.optional("reason"), _seen_revision(ctx)
    )
    return moved.message


def confirm_rollback(ctx: Context) -> Confirmation:
    name = ctx.param("model")
    alias = ctx.registry.models.get_alias(name)
    if alias is None:
        raise Conflict(f"'{name}' has no production version to roll back from.")
    target = deployments.rollback_target(ctx.registry.models.alias_history(name), alias.version)
    if target is None:
        raise Conflict(f"'{name}' has no earlier production version than v{alias.version} to roll back to.")
    model = ctx.registry.models.get_model_version(name, target)
    deployments.servable(model)
    return Confirmation(
        question=f"Roll back {name} production from v{alias.version} to v{target}?",
        details=[
            ("production now", f"v{alias.version}"),
            ("after", f"v{target}: {render.metrics(model.metrics)}"),
        ],
        state={"model": name, "seen_revision": alias.revision},
        button=f"Roll back to v{target}",
        back=path("models", name),
    )


def perform_rollback(ctx: Context) -> str:
    return deployments.rollback(
        ctx.registry, ctx.param("model"), ctx.optional("reason"), _seen_revision(ctx)
    ).message


def _pending(ctx: Context) -> ModelVersion:
    return deployments.pending(ctx.registry, ctx.param("model"), _version(ctx))


def _decision(ctx: Context, verb: str, after: str) -> Confirmation:
    model = _pending(ctx)
    alias = ctx.registry.models.get_alias(model.name)
    return Confirmation(
        question=f"{verb.capitalize()} {model.name} v{model.version}?",
        details=[
            ("production now", f"v{alias.version}" if alias else "none"),
            ("after", after),
            ("its review", model.decision_reason),
            ("decided by", caller_identity()),
        ],
        state={"model": model.name, "version": model.version},
        button=f"{verb.capitalize()} v{model.version}",
        back=path("models", model.name),
        notes=["The reason and your AWS identity are kept with the version and in the alias history."],
    )


def confirm_approve(ctx: Context) -> Confirmation:
    config = ctx.registry.datasets.find_config(ctx.param("model"))
    strategy = config.deployment.strategy if config is not None else "direct"
    version = _version(ctx)
    outcome = f"a {strategy} of v{version} starts" if strategy != "direct" else f"v{version} serves"
    return _decision(ctx, "approve", outcome)


def _reason(ctx: Context) -> str:
    reason = ctx.optional("reason")
    if not reason:
        raise Conflict("Give a reason: it is kept with the decision.")
    return reason


def perform_approve(ctx: Context) -> str:
    model = _pending(ctx)
    config = ctx.registry.datasets.find_config(model.name)
    starter = None
    if config is not None and config.deployment.strategy != "direct":
        machine = StepFunctionsStarter(read_outputs(ctx.sources.stack).rollout_state_machine_arn)

        def starter(candidate: ModelVersion) -> str:
            rollout = rollouts.start(
                ctx.registry,
                candidate.name,
                candidate.version,
                config.deployment,
                machine,
                actor=caller_identity(),
            )
            return f"Started {rollout.strategy} {rollout.rollout_id} of '{rollout.name}' v{rollout.version}."

    return deployments.approve(
        ctx.registry, model.name, model.version, _reason(ctx), caller_identity(), starter
    )


def confirm_reject(ctx: Context) -> Confirmation:
    return _decision(ctx, "reject", "production is unchanged")


def perform_reject(ctx: Context) -> str:
    model = _pending(ctx)
    return deployments.reject(ctx.registry, model.name, model.version, _reason(ctx), caller_identity())


ACTIONS = {
    action.name: action
    for action in (
        Action("promote", confirm_promote, perform_promote, _model_back),
        Action("rollback", confirm_rollback, perform_rollback, _model_back),
        Action("approve", confirm_approve, perform_approve, _model_back),
        Action("reject", confirm_reject, perform_reject, _model_back),
    )
}


def _action(params: dict[str, str]) -> Action:
    action = ACTIONS.get(params["action"])
    if action is None:
        raise BadRequest(f"There is no action '{params['action']}'.")
    return action


def _confirmation_page(ctx: Context, action: Action, error: str | None = None) -> Page:
    asked = action.confirm(ctx)
    hidden = "".join(
        f'<input type="hidden" name="{attr(k)}" value="{attr(v)}">'
        for k, v in asked.state.items()
        if v is not None
    )
    form = (
        f'<form method="post" action="{attr(path("actions", action.name))}" class="confirm">'
        f'<input type="hidden" name="csrf" value="{attr(ctx.csrf)}">{hidden}'
        '<label for="reason">Reason (kept in the alias history)</label>'
        '<input id="reason" name="reason" type="text" maxlength="500" autocomplete="off">'
        f'<div class="buttons"><button type="submit" class="danger">{h(asked.button)}</button>'
        f'<a class="button secondary" href="{attr(asked.back)}">Cancel</a></div></form>'
    )
    body = join(
        [
            notice(error, "error") if error else Html(""),
            Html(f'<p class="question">{h(asked.question)}</p>'),
            fields(asked.details),
            join([Html(f'<p class="muted">{h(n)}</p>') for n in asked.notes]),
            Html(form),
        ]
    )
    return Page("Confirm", body, 409 if error else 200)


def ask(ctx: Context, params: dict[str, str]) -> Page:
    return _confirmation_page(ctx, _action(params))


def act(ctx: Context, params: dict[str, str]) -> Page | Response:
    action = _action(params)
    try:
        message = action.perform(ctx)
    except Conflict as error:
        # Show what is true now, with the refusal; the person decides again.
        try:
            return _confirmation_page(ctx, action, str(error))
        except MlopsError:
            raise error from None
    back = action.back(ctx)
    return redirect(f"{back}?flash={ctx.flash(message)}")


SECTION = Section(
    "",
    "/actions",
    (Route("GET", "/actions/(?P<action>[a-z-]+)", ask), Route("POST", "/actions/(?P<action>[a-z-]+)", act)),
)
