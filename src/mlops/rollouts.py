"""Rollouts: a candidate answers a growing share of requests (canary), or scores production's captured
requests without answering (shadow), and is promoted or rolled back by itself.

A rollout lives in two records: the production alias carries the candidate and its weight (what the
inference function routes on, ``mlops.serving.routing``), and the ``ROLLOUT`` record carries the
steps, the guardrails and what was observed. Every change to either is a conditional write, so a
``promote``, a ``rollback``, an alarm and the rollout's own checks may race and exactly one production
version remains: a promote or rollback rewrites the alias without a candidate, and the next check sees
that and records the rollout as aborted.

``check`` is the rollout state machine's Task (``rollout.asl.json``): it rolls back on a breach,
advances a step once its bake time passed with enough requests, and says how long to wait next. A
shadow rollout's candidate sits in the alias at weight 0 (nothing routes to it; ``models rollback``
and ``promote`` stop it like a canary), and its check replays captured traffic (``mlops.shadow``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from mlops.config import DeploymentConfig, GuardrailConfig
from mlops.deployments import servable
from mlops.entities import Alias, Rollout, utcnow
from mlops.errors import Conflict, MlopsError, NotFound
from mlops.registry import Registry
from mlops.rollout_gates import (
    MAX_REPLAYED_REQUESTS,
    Evidence,
    above,
    ground_truth_breach,
    ground_truth_status,
    shadow_breach,
)

CANDIDATE = "candidate"
PRODUCTION = "production"
MAX_ATTEMPTS = 5


class NoProduction(MlopsError):
    """A canary needs a production version to run beside."""


@dataclass(frozen=True)
class Observed:
    """The candidate's figures over a window: requests served, failed, and the worst p99 (ms)."""

    requests: float
    errors: float
    p99_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, float]:
        figures = {"requests": self.requests, "errors": self.errors, "error_rate": round(self.error_rate, 6)}
        if self.p99_ms is not None:
            figures["p99_ms"] = round(self.p99_ms, 3)
        return figures


class VariantMetrics(Protocol):
    """Where the candidate's figures come from (CloudWatch in the stack, anything in tests)."""

    def candidate(self, name: str, version: int, since: datetime, until: datetime) -> Observed: ...


class Alarms(Protocol):
    """The candidate's CloudWatch alarms: created when a rollout starts, removed when it ends."""

    def arm(self, rollout: Rollout) -> None: ...

    def disarm(self, name: str) -> None: ...


Starter = Callable[[Rollout], str | None]


@dataclass(frozen=True)
class CheckResult:
    name: str
    rollout_id: str
    status: str
    weight: float
    wait_seconds: int
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "rollout_id": self.rollout_id,
            "status": self.status,
            "weight": self.weight,
            "wait_seconds": self.wait_seconds,
            "reason": self.reason,
        }


def breach(observed: Observed, guardrails: dict[str, float]) -> str | None:
    """The guardrail the candidate broke, in one sentence with its figure, or None."""
    max_rate = guardrails.get("max_error_rate")
    if observed.requests and above(observed.error_rate, max_rate):
        return (
            f"error rate {observed.error_rate:.2%} ({observed.errors:.0f} of {observed.requests:.0f} requests) "
            f"is above the guardrail {max_rate:.2%}"
        )
    max_p99 = guardrails.get("max_p99_latency_ms")
    if above(observed.p99_ms, max_p99):
        return f"p99 latency {observed.p99_ms:.1f} ms is above the guardrail {max_p99:.1f} ms"
    return None


def check_interval(bake_seconds: float) -> int:
    """Checks run three times per bake, so a breach rolls back well within two bake intervals."""
    return max(1, math.ceil(bake_seconds / 3))


def start(
    registry: Registry,
    name: str,
    version: int,
    deployment: DeploymentConfig,
    starter: Starter,
    alarms: Alarms | None = None,
    steps: list[int] | None = None,
    bake_seconds: float | None = None,
    actor: str | None = None,
    run_id: str | None = None,
    shadow_requests: int | None = None,
) -> Rollout:
    """Give ``version`` the first canary step of the traffic (or, for a shadow, production's captured
    requests to score) and start the rollout's checks. ``shadow_requests`` makes it a shadow of that
    many requests whatever the config says; else the config's strategy decides."""
    model = registry.models.get_model_version(name, version)
    servable(model)
    alias = registry.models.get_alias(name)
    if alias is None:
        raise NoProduction(
            f"'{name}' has no production version for a canary to run beside; promote it instead."
        )
    if alias.version == version:
        raise Conflict(f"'{name}' v{version} is already the production version.")
    canary = deployment.canary
    shadow = shadow_requests is not None or (deployment.strategy == "shadow" and not steps)
    chosen = [] if shadow else list(steps or canary.steps)
    guardrails: GuardrailConfig = deployment.guardrails
    gate = {k: float(v) for k, v in guardrails.model_dump().items()}
    if shadow:
        gate.update(
            min_agreement=deployment.shadow.min_agreement,
            max_relative_error=deployment.shadow.max_relative_error,
        )
    rollout = Rollout(
        rollout_id=uuid.uuid4().hex[:12],
        name=name,
        version=version,
        baseline=alias.version,
        strategy="shadow" if shadow else "canary",
        shadow_requests=min(shadow_requests or deployment.shadow.requests, MAX_REPLAYED_REQUESTS)
        if shadow
        else 0,
        steps=chosen,
        current_weight=0.0 if shadow else float(chosen[0]),
        bake_seconds=bake_seconds if bake_seconds is not None else canary.bake_seconds,
        guardrails=gate,
        actor=actor,
        run_id=run_id,
    )
    try:
        rollout = registry.models.save_rollout(rollout, expected=None)
    except Conflict as error:
        running = registry.models.get_rollout(name)
        detail = f" (v{running.version})" if running else ""
        raise Conflict(
            f"'{name}' already has a rollout running{detail}; wait for it or roll back."
        ) from error
    if shadow:
        reason = (
            f"Shadow of v{version} started beside v{alias.version}: it scores the next "
            f"{rollout.shadow_requests} production requests without answering."
        )
    else:
        reason = f"Canary of v{version} started at {chosen[0]}% beside v{alias.version}."
    try:
        registry.models.set_candidate(
            alias,
            version,
            rollout.current_weight,
            rollout.strategy,
            reason,
            run_id=run_id,
            actor=actor,
            status="candidate",
        )
    except Conflict:
        _end(registry, rollout, "aborted", "The production alias moved while the rollout started.")
        raise
    rollout = _log(rollout, "started", reason)
    rollout = registry.models.save_rollout(rollout, expected=registry.models.get_rollout(name))
    if alarms is not None and not shadow:  # a shadow candidate answers nothing: no live figures to alarm on
        alarms.arm(rollout)
    execution = starter(rollout)
    if execution:
        current = registry.models.get_rollout(name)
        if current is not None and current.rollout_id == rollout.rollout_id:
            rollout = registry.models.save_rollout(
                current.model_copy(update={"execution_arn": execution}), current
            )
    return rollout


def _log(rollout: Rollout, event: str, detail: str) -> Rollout:
    entry = {"at": utcnow().isoformat(), "event": event, "weight": rollout.current_weight, "detail": detail}
    return rollout.model_copy(update={"history": [*rollout.history, entry]})


def _end(registry: Registry, rollout: Rollout, status: str, reason: str) -> Rollout:
    ended = _log(rollout, status, reason).model_copy(
        update={"status": status, "reason": reason, "ended_at": utcnow(), "current_weight": 0.0}
    )
    if status == "completed":
        ended = ended.model_copy(update={"current_weight": 100.0})
    return registry.models.save_rollout(ended, expected=rollout)


def _end_once(registry: Registry, rollout: Rollout, status: str, reason: str) -> Rollout:
    """End the rollout unless another check ended it first, in which case its record stands."""
    try:
        return _end(registry, rollout, status, reason)
    except Conflict:
        stored = registry.models.get_rollout(rollout.name)
        if stored is None or stored.rollout_id != rollout.rollout_id or stored.status == "running":
            raise
        return stored


def _result(rollout: Rollout, wait: int = 0) -> CheckResult:
    return CheckResult(
        rollout.name, rollout.rollout_id, rollout.status, rollout.current_weight, wait, rollout.reason
    )


def check(
    registry: Registry,
    metrics: VariantMetrics,
    name: str,
    rollout_id: str,
    alarms: Alarms | None = None,
    now: datetime | None = None,
    evidence: Evidence | None = None,
) -> CheckResult:
    """One step of the rollout machine: roll back, advance, complete, or wait. ``evidence`` (captured
    traffic and labels) judges a shadow and the ground-truth guardrail; without it that guardrail is
    inactive and a shadow cannot be judged."""
    moment = now or utcnow()
    rollout = registry.models.get_rollout(name)
    if rollout is None or rollout.rollout_id != rollout_id:
        raise NotFound(f"No rollout {rollout_id} of '{name}'.")
    if rollout.status != "running":
        return _result(rollout)
    alias = registry.models.get_alias(name)
    if alias is None or alias.candidate != rollout.version:
        if alias is not None and alias.version == rollout.version and alias.candidate is None:
            # The candidate is production: a second check of this rollout (a redelivery, or one resumed
            # after a restart) completed it between this check's two reads, or a person promoted it.
            ended = _end_once(registry, rollout, "completed", f"v{rollout.version} is production.")
        else:
            now_serving = f"v{alias.version}" if alias else "none"
            reason = f"The production alias moved (now {now_serving}); the rollout stopped."
            ended = _end_once(registry, rollout, "aborted", reason)
        _disarm(alarms, name)
        return _result(ended)
    if rollout.strategy == "shadow":
        return _check_shadow(registry, rollout, alias, moment, evidence)
    observed = metrics.candidate(name, rollout.version, rollout.step_started_at, moment)
    truth = evidence.ground_truth(rollout, moment) if evidence is not None else None
    rollout = rollout.model_copy(
        update={
            "observed": {**observed.as_dict(), **(truth.as_dict() if truth else {})},
            "ground_truth": ground_truth_status(truth, rollout.guardrails),
        }
    )
    broken = breach(observed, rollout.guardrails) or ground_truth_breach(truth, rollout.guardrails)
    if broken is not None:
        return _result(
            roll_back(registry, name, f"The candidate's {broken}.", alarms=alarms, rollout=rollout)
        )
    elapsed = (moment - rollout.step_started_at).total_seconds()
    enough = observed.requests >= rollout.guardrails.get("min_requests", 1)
    interval = check_interval(rollout.bake_seconds)
    if elapsed < rollout.bake_seconds or not enough:
        stored = registry.models.save_rollout(rollout, expected=registry.models.get_rollout(name))
        return _result(stored, interval)
    if rollout.step + 1 >= len(rollout.steps):
        return _result(_complete(registry, rollout, alias, alarms))
    step = rollout.step + 1
    weight = float(rollout.steps[step])
    reason = (
        f"Canary of v{rollout.version} advanced to {weight:g}% after {elapsed:.0f} s within the guardrails "
        f"({observed.requests:.0f} requests, error rate {observed.error_rate:.2%})."
    )
    registry.models.set_candidate(alias, rollout.version, weight, "canary", reason, run_id=rollout.run_id)
    advanced = _log(
        rollout.model_copy(update={"step": step, "current_weight": weight, "step_started_at": moment}),
        "advanced",
        reason,
    )
    stored = registry.models.save_rollout(advanced, expected=registry.models.get_rollout(name))
    return _result(stored, interval)


def _check_shadow(
    registry: Registry, rollout: Rollout, alias: Alias, moment: datetime, evidence: Evidence | None
) -> CheckResult:
    """Replay what production answered since the shadow began; at ``shadow_requests`` requests, promote
    the candidate if the gate holds, else end the rollout saying which figure failed."""
    if evidence is None:
        raise MlopsError("A shadow rollout is judged on captured traffic; no capture bucket was given.")
    figures, truth = evidence.shadow(rollout, moment)
    gathered = figures.requests >= rollout.shadow_requests
    rollout = rollout.model_copy(
        update={
            "observed": {**figures.as_dict(), **(truth.as_dict() if truth else {})},
            "ground_truth": ground_truth_status(truth, rollout.guardrails)
            if gathered
            else f"ground truth: weighed at the gate, after {rollout.shadow_requests} requests",
        }
    )
    if not gathered:
        stored = registry.models.save_rollout(rollout, expected=registry.models.get_rollout(rollout.name))
        return _result(stored, check_interval(rollout.bake_seconds))
    broken = shadow_breach(figures, rollout.guardrails) or ground_truth_breach(truth, rollout.guardrails)
    if broken is not None:
        return _result(
            roll_back(registry, rollout.name, f"The shadow candidate's {broken}.", rollout=rollout)
        )
    held = (
        f"agreement {figures.agreement:.2%}"
        if figures.agreement is not None
        else f"mean relative error {figures.relative_error or 0:.2%}"
    )
    reason = (
        f"Shadow of v{rollout.version} promoted: over {figures.requests} replayed requests ({figures.rows} rows) "
        f"{held}, error rate {figures.error_rate:.2%}, p99 {figures.p99_ms or 0:.1f} ms, within the gate."
    )
    return _result(_complete(registry, rollout, alias, None, reason))


def _complete(
    registry: Registry, rollout: Rollout, alias: Alias, alarms: Alarms | None, reason: str | None = None
) -> Rollout:
    reason = reason or f"Canary of v{rollout.version} completed: every step held within the guardrails."
    registry.models.move_alias(
        rollout.name, rollout.version, alias, rollout.strategy, rollout.run_id, reason, rollout.actor
    )
    _disarm(alarms, rollout.name)
    return _end_once(registry, rollout, "completed", reason)


def roll_back(
    registry: Registry,
    name: str,
    reason: str,
    alarms: Alarms | None = None,
    rollout: Rollout | None = None,
    actor: str | None = None,
) -> Rollout:
    """Weight 0, the candidate ``rolled_back`` with ``reason``; production untouched."""
    current = registry.models.get_rollout(name)
    if current is None or current.status != "running":
        raise Conflict(f"'{name}' has no rollout running.")
    rollout = rollout if rollout is not None and rollout.rollout_id == current.rollout_id else current
    for _ in range(MAX_ATTEMPTS):
        alias = registry.models.get_alias(name)
        if alias is None or alias.candidate != rollout.version:
            break  # production moved: nothing routes to the candidate any more
        try:
            registry.models.set_candidate(
                alias, None, 0.0, "rollback", reason, rollout.run_id, actor, "rolled_back"
            )
            break
        except Conflict:
            continue
    _disarm(alarms, name)
    ended = _log(rollout, "rolled_back", reason).model_copy(
        update={"status": "rolled_back", "reason": reason, "ended_at": utcnow(), "current_weight": 0.0}
    )
    return registry.models.save_rollout(ended, expected=current)


def abort(registry: Registry, name: str, reason: str) -> Rollout | None:
    """Record a running rollout as aborted after production was moved by hand (promote, rollback)."""
    current = registry.models.get_rollout(name)
    if current is None or current.status != "running":
        return None
    try:
        return _end(registry, current, "aborted", reason)
    except Conflict:
        return registry.models.get_rollout(name)


def _disarm(alarms: Alarms | None, name: str) -> None:
    if alarms is not None:
        alarms.disarm(name)


def on_alarm(registry: Registry, name: str, alarm: str, alarms: Alarms | None = None) -> Rollout | None:
    """A candidate alarm went to ALARM: roll the running rollout back, naming the alarm."""
    current = registry.models.get_rollout(name)
    if current is None or current.status != "running":
        return None
    try:
        return roll_back(registry, name, f"The candidate's alarm {alarm} went off.", alarms=alarms)
    except Conflict:
        return registry.models.get_rollout(name)
