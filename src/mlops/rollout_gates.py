"""The figures a rollout's checks weigh beyond the live metrics, and the verdicts on them: the shadow
gate (agreement or relative error with production, error rate, latency) and the ground-truth
guardrail (live accuracy or RMSE against production). Plain Python, so every function that starts
or decides a rollout imports it without numpy; ``mlops.shadow`` computes the figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from mlops.entities import Rollout

# Each replayed request is scored alone, as it was served; the cap keeps one check within its timeout.
MAX_REPLAYED_REQUESTS = 5_000


@dataclass(frozen=True)
class ShadowFigures:
    """What replaying production's requests through the candidate showed."""

    requests: int
    rows: int
    errors: int
    agreement: float | None  # classification: share of rows predicted as production answered
    relative_error: float | None  # regression: mean |candidate - production| / max(|production|, 1e-9)
    p99_ms: float | None
    production_p99_ms: float | None
    first_error: str | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, float]:
        figures: dict[str, float] = {
            "requests": self.requests,
            "rows": self.rows,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 6),
        }
        for key, value in (
            ("agreement", self.agreement),
            ("relative_error", self.relative_error),
            ("p99_ms", self.p99_ms),
            ("production_p99_ms", self.production_p99_ms),
        ):
            if value is not None:
                figures[key] = round(value, 6)
        return figures


@dataclass(frozen=True)
class GroundTruth:
    """Each variant's live accuracy (classification) or RMSE (regression) on labelled rows."""

    metric: str  # "accuracy" | "rmse"
    candidate: float | None
    production: float | None
    candidate_rows: int
    production_rows: int
    # Label lines the reader could not use: (reason, lines), most frequent first (mlops.labels).
    skipped: tuple[tuple[str, int], ...] = ()

    @property
    def skipped_lines(self) -> int:
        return sum(count for _, count in self.skipped)

    def as_dict(self) -> dict[str, float]:
        figures: dict[str, float] = {
            "labelled_candidate_rows": self.candidate_rows,
            "labelled_production_rows": self.production_rows,
        }
        if self.skipped:
            figures["skipped_label_lines"] = self.skipped_lines
        if self.candidate is not None:
            figures[f"candidate_{self.metric}"] = round(self.candidate, 6)
        if self.production is not None:
            figures[f"production_{self.metric}"] = round(self.production, 6)
        return figures


class Evidence(Protocol):
    """What the rollout's checks learn from captured traffic (S3 in the stack)."""

    def shadow(self, rollout: Rollout, until: datetime) -> tuple[ShadowFigures, GroundTruth | None]: ...

    def ground_truth(self, rollout: Rollout, until: datetime) -> GroundTruth | None: ...


# ---- the verdicts --------------------------------------------------------------------------------


def above(figure: float | None, limit: float | None) -> bool:
    """Whether a measured figure breaks an upper limit; an unset limit or a figure not measured
    breaks nothing."""
    return limit is not None and figure is not None and figure > limit


def below(figure: float | None, limit: float | None) -> bool:
    """Whether a measured figure breaks a lower limit (as ``above``)."""
    return limit is not None and figure is not None and figure < limit


def shadow_breach(figures: ShadowFigures, gate: dict[str, float]) -> str | None:
    """The part of the shadow gate the candidate failed, in one sentence with its figure, or None."""
    max_rate = gate.get("max_error_rate")
    if figures.requests and above(figures.error_rate, max_rate):
        why = f"; the first: {figures.first_error.rstrip('.')}" if figures.first_error else ""
        return (
            f"error rate {figures.error_rate:.2%} ({figures.errors} of {figures.requests} replayed requests "
            f"refused or failed{why}) is above the gate {max_rate:.2%}"
        )
    min_agreement = gate.get("min_agreement")
    if below(figures.agreement, min_agreement):
        return (
            f"agreement with production {figures.agreement:.2%} ({figures.rows} rows of {figures.requests} "
            f"requests) is below the gate {min_agreement:.2%}"
        )
    max_relative = gate.get("max_relative_error")
    if above(figures.relative_error, max_relative):
        return (
            f"mean relative error against production {figures.relative_error:.2%} ({figures.rows} rows) is "
            f"above the gate {max_relative:.2%}"
        )
    max_p99 = gate.get("max_p99_latency_ms")
    if above(figures.p99_ms, max_p99):
        return f"replayed p99 latency {figures.p99_ms:.1f} ms is above the gate {max_p99:.1f} ms"
    return None


def ground_truth_breach(truth: GroundTruth | None, guardrails: dict[str, float]) -> str | None:
    """The ground-truth guardrail the candidate broke, in one sentence with its figures, or None."""
    if truth is None or not ground_truth_active(truth, guardrails):
        return None
    assert truth.candidate is not None and truth.production is not None
    if truth.metric == "accuracy":
        drop = guardrails.get("max_accuracy_drop", 0.05)
        if truth.candidate < truth.production - drop:
            return (
                f"live accuracy {truth.candidate:.2%} on {truth.candidate_rows} labelled rows is more than "
                f"{drop:.2%} below production's {truth.production:.2%} ({truth.production_rows} rows)"
            )
        return None
    increase = guardrails.get("max_rmse_increase", 0.1)
    if truth.candidate > truth.production * (1 + increase):
        return (
            f"live RMSE {truth.candidate:.4g} on {truth.candidate_rows} labelled rows is more than "
            f"{increase:.0%} above production's {truth.production:.4g} ({truth.production_rows} rows)"
        )
    return None


def ground_truth_active(truth: GroundTruth | None, guardrails: dict[str, float]) -> bool:
    needed = guardrails.get("min_labels", 20)
    return (
        truth is not None
        and truth.candidate is not None
        and truth.production is not None
        and min(truth.candidate_rows, truth.production_rows) >= needed
    )


def ground_truth_status(truth: GroundTruth | None, guardrails: dict[str, float]) -> str:
    """What the report says about the ground-truth guardrail, and about label lines that were skipped."""
    skipped = ""
    if truth is not None and truth.skipped:
        reasons = ", ".join(f"{reason}: {count}" for reason, count in truth.skipped)
        skipped = f"; {truth.skipped_lines} label lines skipped ({reasons})"
    if ground_truth_active(truth, guardrails):
        assert truth is not None
        return f"ground truth: {truth.metric} checked on labelled rows{skipped}"
    needed = int(guardrails.get("min_labels", 20))
    if truth is None or not (truth.candidate_rows or truth.production_rows):
        return (
            f"ground truth: inactive, no labels arrived (ground-truth/ needs {needed} labelled rows each "
            f"side){skipped}"
        )
    return (
        f"ground truth: inactive, {truth.candidate_rows} labelled candidate rows and {truth.production_rows} "
        f"production rows (it needs {needed} each){skipped}"
    )
