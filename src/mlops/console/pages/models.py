"""Models: versions and their metrics, production and candidate, and the alias history over time."""

from __future__ import annotations

from mlops.cli import render
from mlops.console import charts
from mlops.console.app import Context, Page, Route, Section
from mlops.console.html import Html, badge, fields, join, link, pager, path, section, table, when
from mlops.deployments import NotServable, servable
from mlops.entities import Alias, AliasEvent, ModelVersion
from mlops.errors import NotFound

PAGE_SIZE = 25
_METRICS_SHOWN = 4


def index(ctx: Context, _: dict[str, str]) -> Page:
    return Page("Models", models_table(ctx))


def models_table(ctx: Context) -> Html:
    counts = ctx.registry.models.model_version_counts()
    rows = []
    for name in sorted(counts):
        alias = ctx.registry.models.get_alias(name, consistent=False)
        rows.append(
            (
                link(path("models", name), name),
                link(path("lineage", name, alias.version), f"v{alias.version}") if alias else "none",
                counts[name],
                f"{alias.action} {render.timestamp(alias.updated_at)}" if alias else None,
                link(path("drift", name), "drift history"),
            )
        )
    return table(
        ("Model", "Production", "Versions", "Last alias move", "Drift"),
        rows,
        "Models and their production version",
        "No models yet: a successful run registers one.",
    )


def promote_link(model: ModelVersion, alias: Alias | None) -> Html | None:
    """The way to the promote confirmation, for versions that could serve and do not already; a
    version waiting for approval gets approve and reject instead."""
    if model.status == "pending_approval":
        query = {"model": model.name, "version": model.version}
        approve, reject = path("actions", "approve", query=query), path("actions", "reject", query=query)
        return Html(
            f'<a class="button" href="{approve}">Approve v{model.version}</a> '
            f'<a class="button secondary" href="{reject}">Reject v{model.version}</a>'
        )
    if alias is not None and alias.version == model.version:
        return None
    try:
        servable(model)
    except NotServable:
        return None
    target = path("actions", "promote", query={"model": model.name, "version": model.version})
    return Html(f'<a class="button" href="{target}">Promote v{model.version}</a>')


def show(ctx: Context, params: dict[str, str]) -> Page:
    name = params["name"]
    versions, cursor = ctx.registry.models.page_model_versions(name, PAGE_SIZE, ctx.optional("after"))
    if not versions and not ctx.optional("after"):
        raise NotFound(f"No model named '{name}'.")
    alias = ctx.registry.models.get_alias(name)
    history = ctx.registry.models.alias_history(name)
    candidate = next((v for v in versions if v.status == "candidate"), None)
    production = fields(
        [
            (
                "production",
                link(path("lineage", name, alias.version), f"v{alias.version}") if alias else "none",
            ),
            ("since", when(alias.updated_at) if alias else None),
            ("moved by", alias.action if alias else None),
            (
                "candidate",
                link(path("lineage", name, candidate.version), f"v{candidate.version}")
                if candidate
                else "none",
            ),
            ("candidate decision", candidate.decision_reason if candidate else None),
        ]
    )
    actions = []
    if alias is not None:
        rollback = path("actions", "rollback", query={"model": name})
        label = f"Stop the canary of v{alias.candidate}" if alias.candidate else "Roll back production"
        actions.append(f'<a class="button" href="{rollback}">{label}</a>')
    if ctx.registry.models.get_rollout(name) is not None:
        actions.append(f'<a class="button secondary" href="{path("rollouts", name)}">Rollout</a>')
    actions.append(
        f'<a class="button secondary" href="{path("batch", query={"model": name})}">Batch jobs</a>'
    )
    rows = [
        (
            link(path("lineage", name, m.version), f"v{m.version}", f"lineage of version {m.version}"),
            badge(m.status),
            render.metrics(m.metrics, limit=_METRICS_SHOWN),
            link(path("datasets", name, "versions", m.dataset_version), render.short_sha(m.dataset_version)),
            link(path("runs", m.run_id), m.run_id),
            when(m.created_at),
            m.decision_reason,
            promote_link(m, alias),
        )
        for m in versions
    ]
    body = join(
        [
            production,
            Html(f'<p class="actions">{"".join(actions)}</p>') if actions else Html(""),
            section("Metrics", metrics_chart(name, versions)),
            section("Production over time", alias_chart(name, history), alias_table(history)),
            section(
                "Versions",
                table(
                    (
                        "Version",
                        "Status",
                        "Metrics",
                        "Dataset version",
                        "Run",
                        "Created",
                        "Decision",
                        "Action",
                    ),
                    rows,
                    f"Versions of {name}, newest first",
                ),
                pager(path("models", name), cursor),
            ),
        ]
    )
    return Page(f"Model {name}", body)


def metrics_chart(name: str, versions: list[ModelVersion]) -> Html:
    ordered = sorted(versions, key=lambda m: m.version)
    metric_names = list(dict.fromkeys(k for m in ordered for k in m.metrics))[:_METRICS_SHOWN]
    if not metric_names:
        return Html('<p class="empty">No metrics recorded.</p>')
    series = []
    for metric in metric_names:
        one = charts.Series(metric)
        for m in ordered:
            if metric in m.metrics:
                one.points.append((float(m.version), float(m.metrics[metric])))
                one.flagged.append(False)
                one.notes.append(m.status)
        series.append(one)
    return charts.line_chart(
        series,
        f"Holdout metrics of {name} by version",
        "version",
        y_floor=None,
    )


def alias_chart(name: str, history: list[AliasEvent]) -> Html:
    if not history:
        return Html('<p class="empty">Never in production.</p>')
    one = charts.Series("production")
    for event in sorted(history, key=lambda e: e.revision):
        one.points.append((event.at.timestamp(), float(event.version)))
        one.flagged.append(event.action == "rollback")
        one.notes.append(event.action)
    return charts.line_chart(
        [one],
        f"Production version of {name} over time (rollbacks in red)",
        "time",
        y_format=charts.version_axis,
        step=True,
        y_floor=None,
    )


def alias_table(history: list[AliasEvent]) -> Html:
    rows = [
        (
            e.revision,
            when(e.at),
            e.action,
            f"v{e.from_version} → v{e.version}" if e.from_version else f"→ v{e.version}",
            e.reason,
            link(path("runs", e.run_id), e.run_id) if e.run_id else None,
        )
        for e in sorted(history, key=lambda e: e.revision, reverse=True)
    ]
    return table(("Revision", "At", "Action", "Move", "Reason", "Run"), rows, "Alias history, newest first")


SECTION = Section(
    "Models",
    "/models",
    (Route("GET", "/models", index), Route("GET", "/models/(?P<name>[^/]+)", show)),
)
