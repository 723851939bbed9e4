"""Rollouts: each model's active or last canary or shadow, its steps, guardrails, figures and history."""

from __future__ import annotations

from mlops.cli import render
from mlops.console.app import Context, Page, Route, Section
from mlops.console.html import fields, join, link, path, section, table, when
from mlops.errors import NotFound

# Shown when the rollout measured them: the shadow gate and the ground-truth figures.
GATE_ROWS = (
    ("agreement with production", "min_agreement", "agreement"),
    ("relative error against production", "max_relative_error", "relative_error"),
    ("live accuracy (candidate; max drop)", "max_accuracy_drop", "candidate_accuracy"),
    ("live accuracy (production)", "max_accuracy_drop", "production_accuracy"),
    ("live RMSE (candidate; max increase)", "max_rmse_increase", "candidate_rmse"),
    ("live RMSE (production)", "max_rmse_increase", "production_rmse"),
)


def index(ctx: Context, _: dict[str, str]) -> Page:
    rows = []
    for name in sorted(ctx.registry.models.model_version_counts()):
        rollout = ctx.registry.models.get_rollout(name)
        if rollout is not None:
            rows.append(
                (
                    link(path("rollouts", name), name),
                    f"v{rollout.version}",
                    rollout.status,
                    f"{rollout.current_weight:g}%",
                    when(rollout.started_at),
                    rollout.reason,
                )
            )
    headers = ("Model", "Candidate", "Status", "Weight", "Started", "Reason")
    return Page("Rollouts", table(headers, rows, "Each model's active or last rollout", "No rollouts yet."))


def show(ctx: Context, params: dict[str, str]) -> Page:
    name = params["name"]
    rollout = ctx.registry.models.get_rollout(name)
    if rollout is None:
        raise NotFound(f"'{name}' has had no rollout yet.")
    if rollout.strategy == "shadow":
        plan = ("shadow", f"{rollout.shadow_requests} production requests scored, none answered")
        title = f"Shadow of {name} v{rollout.version}"
    else:
        plan = ("steps", " → ".join(f"{s}%" for s in rollout.steps) + f", {rollout.bake_seconds:g} s each")
        title = f"Rollout of {name} v{rollout.version} ({render.plural(len(rollout.steps), 'step')})"
    gate = [
        (label, rollout.guardrails.get(limit), rollout.observed.get(figure))
        for label, limit, figure in GATE_ROWS
        if limit in rollout.guardrails and figure in rollout.observed
    ]
    summary = fields(
        [
            ("candidate", link(path("lineage", name, rollout.version), f"v{rollout.version}")),
            ("beside", f"v{rollout.baseline}" if rollout.baseline else None),
            ("strategy", rollout.strategy),
            ("status", rollout.status),
            plan,
            ("weight now", f"{rollout.current_weight:g}%"),
            ("started", when(rollout.started_at)),
            ("ended", when(rollout.ended_at) if rollout.ended_at else None),
            ("reason", rollout.reason),
            ("ground truth", rollout.ground_truth),
        ]
    )
    guardrails = table(
        ("Guardrail", "Threshold", "Observed"),
        [
            ("error rate", rollout.guardrails.get("max_error_rate"), rollout.observed.get("error_rate")),
            (
                "p99 latency (ms)",
                rollout.guardrails.get("max_p99_latency_ms"),
                rollout.observed.get("p99_ms"),
            ),
            (
                "requests before a step",
                rollout.guardrails.get("min_requests"),
                rollout.observed.get("requests"),
            ),
            *gate,
        ],
        "The candidate's figures in its current step",
    )
    history = table(
        ("At", "Event", "Weight", "Detail"),
        [
            (h.get("at"), h.get("event"), f"{float(h.get('weight', 0)):g}%", h.get("detail"))
            for h in rollout.history
        ],
        "Every step of the rollout",
    )
    body = join([summary, section("Guardrails", guardrails), section("History", history)])
    return Page(title, body)


SECTION = Section(
    "Rollouts",
    "/rollouts",
    (Route("GET", "/rollouts", index), Route("GET", "/rollouts/(?P<name>[^/]+)", show)),
)
