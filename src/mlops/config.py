"""The dataset config (CONTRACT §5): one document per dataset, stored in the metadata table.

``mlops upload --target`` writes the minimal one; every other field has the default documented here
and in docs/dataset-config.md. Pure pydantic: imported by every function, including inference.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

Task = Literal["classification", "regression"]
Estimator = Literal[
    "auto",
    "hist_gradient_boosting",
    "random_forest",
    "logistic_regression",
    "linear_regression",
    "ridge",
]


_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")


def parse_rate(expression: str) -> timedelta:
    """``rate(N minute|minutes|hour|hours|day|days)`` as a timedelta: the schedule form configs take."""
    match = _RATE.match(expression.strip())
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"Schedule {expression!r} is not of the form rate(N minutes|hours|days).")
    amount, unit = int(match.group(1)), match.group(2).rstrip("s")
    return timedelta(**{f"{unit}s": amount})


def _valid_schedule(value: str | None) -> str | None:
    if value is not None:
        parse_rate(value)
    return value


Schedule = Annotated[str, AfterValidator(_valid_schedule)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class SearchConfig(_Strict):
    """Randomized hyperparameter search; off unless ``enabled``."""

    enabled: bool = Field(default=False, description="Run a randomized search instead of one fit.")
    n_iter: int = Field(default=8, ge=1, le=200, description="Candidate settings tried.")
    cv: int = Field(default=3, ge=2, le=10, description="Cross-validation folds per candidate.")
    time_budget_s: float = Field(default=120.0, gt=0, description="Stop sampling once exceeded.")


class ValidationConfig(_Strict):
    min_rows: int = Field(default=50, ge=2, description="Fewer rows fail validation.")
    max_missing_ratio: float = Field(
        default=0.5, ge=0, le=1, description="A feature column missing more than this fails."
    )
    max_target_missing_ratio: float = Field(
        default=0.1, ge=0, le=1, description="Rows without a target above this ratio fail."
    )
    max_duplicate_ratio: float = Field(
        default=0.5, ge=0, le=1, description="Duplicate rows above this ratio fail."
    )
    identifier_unique_ratio: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="A string or integer column this unique is an identifier: flagged, excluded.",
    )
    min_class_count: int = Field(default=2, ge=1, description="Each class needs this many rows.")


class PromotionConfig(_Strict):
    metric: str | None = Field(
        default=None,
        description="Metric compared on the candidate's holdout: f1_macro (classification) "
        "or rmse (regression) when unset.",
    )
    tolerance: float = Field(
        default=0.01, ge=0, description="How much worse than production a candidate may be."
    )


class DriftConfig(_Strict):
    psi_threshold: float = Field(default=0.2, gt=0, description="PSI above this is drift.")
    ks_pvalue: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Per-feature KS p-value below this is drift (Bonferroni-tightened when a single "
        "feature decides the verdict).",
    )
    ks_statistic: float = Field(
        default=0.1, gt=0, le=1, description="KS statistic must also exceed this (effect size)."
    )
    categorical_pvalue: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Per-feature chi-squared p-value below this is drift (categorical), tightened "
        "like ks_pvalue.",
    )
    js_threshold: float = Field(default=0.1, gt=0, le=1, description="Jensen-Shannon distance.")
    min_rows: int = Field(default=200, ge=1, description="Below this the verdict is insufficient data.")
    drift_share: float = Field(
        default=0.3, gt=0, le=1, description="Share of drifted features that makes the dataset drift."
    )
    window_hours: float = Field(default=24.0, gt=0, description="Captured traffic window evaluated.")
    schedule: Schedule = Field(default="rate(1 hour)", description="When drift is evaluated.")


class RetrainingConfig(_Strict):
    schedule: Schedule | None = Field(default=None, description="Scheduled retraining, e.g. rate(7 days).")
    cooldown_minutes: float = Field(
        default=60.0, ge=0, description="No drift- or schedule-triggered run within this of the last."
    )


class DatasetConfig(_Strict):
    target: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        description="The column to predict."
    )
    task: Task = Field(default="classification", description="What kind of model to train.")
    estimator: Estimator = Field(default="auto", description="The scikit-learn estimator.")
    params: dict[str, float | int | str | bool | None] = Field(
        default_factory=dict, description="Estimator hyperparameters overriding the defaults."
    )
    search: SearchConfig = SearchConfig()
    holdout_fraction: float = Field(
        default=0.2, gt=0, lt=0.9, description="Share of rows held out for metrics and promotion."
    )
    seed: int = Field(default=42, description="Seeds the split, the estimator and the search.")
    training_backend: Literal["default", "inline", "sagemaker"] = Field(
        default="default", description="Where training runs."
    )
    promotion: PromotionConfig = PromotionConfig()
    validation: ValidationConfig = ValidationConfig()
    drift: DriftConfig = DriftConfig()
    retraining: RetrainingConfig = RetrainingConfig()

    @property
    def promotion_metric(self) -> str:
        if self.promotion.metric:
            return self.promotion.metric
        return "f1_macro" if self.task == "classification" else "rmse"


def _type_name(annotation: object) -> str:
    args = get_args(annotation)
    if get_origin(annotation) is Annotated:
        return _type_name(args[0])
    if get_origin(annotation) is Literal:
        return " / ".join(f"`{a}`" for a in args)
    if args and get_origin(annotation) is not dict:
        return " or ".join(_type_name(a) for a in args)
    name = getattr(annotation, "__name__", None)
    return "null" if annotation is type(None) else (name or str(annotation).replace("typing.", ""))


def _describe(model: type[BaseModel], prefix: str = "") -> list[str]:
    rows: list[str] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows += _describe(annotation, f"{prefix}{name}.")
            continue
        if info.is_required():
            default = "required"
        else:
            value = info.get_default(call_default_factory=True)
            default = f"`{value!r}`" if value not in ({}, None) else ("`{}`" if value == {} else "unset")
        kind = _type_name(annotation)
        rows.append(f"| `{prefix}{name}` | {kind} | {default} | {info.description or ''} |")
    return rows


def reference_markdown() -> str:
    """The dataset config reference (docs/dataset-config.md is this text; a test keeps them equal)."""
    header = [
        "# Dataset config reference",
        "",
        "One config per dataset, stored in the metadata table. `mlops upload FILE --dataset NAME --target COL",
        "[--task classification|regression]` writes the minimal one; every other field takes the default",
        "below. Generated from `mlops.config.DatasetConfig` (`python -m mlops.config`).",
        "",
        "| field | type | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    notes = [
        "",
        "Notes:",
        "",
        "- `estimator: auto` is histogram gradient boosting for either task.",
        "- `promotion.metric` unset means `f1_macro` (classification) or `rmse` (regression); a candidate is",
        "  promoted when it is not worse than production by more than `promotion.tolerance` on the",
        "  candidate's holdout, and the first model must beat the trivial baseline (majority class or mean).",
        "- `training_backend: default` trains inline up to the function's `INLINE_MAX_ROWS` rows and on",
        "  SageMaker past that, when the stack has a SageMaker image and role.",
        "- Schedules take the form `rate(N minutes|hours|days)`; drift and retraining ticks run every 15",
        "  minutes and act on the datasets that are due.",
    ]
    return "\n".join(header + _describe(DatasetConfig) + notes) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
