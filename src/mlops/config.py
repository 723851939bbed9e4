"""The dataset config (docs/dataset-config.md): one document per dataset, stored in the metadata table.

``mlops upload --target`` writes the minimal one; every other field has the default documented here
and in docs/dataset-config.md. Pure pydantic: imported by every function, including inference.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

Task = Literal["classification", "regression"]
Estimator = Literal[
    "auto",
    "hist_gradient_boosting",
    "random_forest",
    "logistic_regression",
    "linear_regression",
    "ridge",
]
ESTIMATORS_BY_TASK: dict[str, tuple[str, ...]] = {
    "classification": ("auto", "hist_gradient_boosting", "random_forest", "logistic_regression"),
    "regression": ("auto", "hist_gradient_boosting", "random_forest", "linear_regression", "ridge"),
}
METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "classification": ("f1_macro", "accuracy", "roc_auc", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}


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


Severity = Literal["fail", "warn", "off"]


def _severity(default: Severity, meaning: str) -> Any:
    return Field(default=default, description=meaning)


def _share(default: float, meaning: str) -> Any:
    return Field(default=default, ge=0, le=1, description=meaning)


class TargetMissingRule(_Strict):
    """Rows without a target cannot teach anything: they are always dropped before training."""

    severity: Severity = _severity(
        "warn", "warn: such rows are dropped (they always are) and counted; fail; off."
    )
    max_ratio: float = _share(0.0, "The rule fires when more than this share of rows has no target.")


class FeatureMissingRule(_Strict):
    severity: Severity = _severity(
        "warn", "warn: the column is left out of the features; fail; off: kept, imputed."
    )
    max_ratio: float = _share(0.5, "A feature column missing in more than this share of rows fires.")


class DuplicateRowsRule(_Strict):
    severity: Severity = _severity(
        "warn", "warn: repeated rows are kept (they are real observations); fail; off."
    )
    max_ratio: float = _share(0.0, "Fires when more than this share of rows repeats an earlier row.")


class ConflictingLabelsRule(_Strict):
    severity: Severity = _severity("warn", "warn: rows are kept and counted; fail; off.")
    max_ratio: float = _share(
        0.0, "Fires when more than this share of rows repeats another row's features with a different target."
    )


class ConstantColumnRule(_Strict):
    severity: Severity = _severity(
        "warn", "warn: a column with one value (or none) is left out; fail; off: kept."
    )


class IdentifierColumnRule(_Strict):
    severity: Severity = _severity("warn", "warn: an identifier-like column is left out; fail; off: kept.")
    unique_ratio: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="A string or integer column this unique is an identifier (integers must also run "
        "in sequence). Distinct values are counted exactly up to 16,384 per column; past that (big tables, "
        "validated batch by batch) the count is an estimate within about 1%.",
    )


class NumericParsingRule(_Strict):
    severity: Severity = _severity(
        "warn",
        "warn: a mostly-numeric text column is parsed as numbers, its other values set to missing, and "
        "decimal commas are read as decimal points; fail; off: such columns stay text.",
    )
    max_invalid_ratio: float = _share(
        0.05,
        "Parsed as numbers when at most this share of its values are not numbers; above it the column "
        "stays text and the report says why.",
    )


class InfiniteValuesRule(_Strict):
    severity: Severity = _severity("warn", "warn: infinities are treated as missing; fail; off.")


class RareClassRule(_Strict):
    severity: Severity = _severity("warn", "warn: the class's rows are kept and counted; fail; off.")
    min_count: int = Field(default=2, ge=1, description="A class with fewer rows fires.")


class ColumnRemovedRule(_Strict):
    severity: Severity = _severity(
        "fail", "A feature or the target of the last accepted version is gone; warn: train without it."
    )


class ColumnRetypedRule(_Strict):
    severity: Severity = _severity(
        "fail",
        "A column changed type (integer and float, string and datetime are compatible) since the last "
        "accepted version; warn: train on the new type.",
    )


class ColumnAddedRule(_Strict):
    severity: Severity = _severity("warn", "A column the last accepted version did not have; it is used.")


# Flat fields of earlier releases: their default values were never a user's choice and are dropped; a
# value someone set keeps its meaning (the rule failed above it).
_LEGACY_VALIDATION: dict[str, tuple[str, str, float]] = {
    "max_missing_ratio": ("feature_missing", "max_ratio", 0.5),
    "max_target_missing_ratio": ("target_missing", "max_ratio", 0.1),
    "max_duplicate_ratio": ("duplicate_rows", "max_ratio", 0.5),
    "min_class_count": ("rare_class", "min_count", 2),
}


class ValidationConfig(_Strict):
    """The rules a dataset version is checked against; see docs/dataset-config.md for each one."""

    min_rows: int = Field(default=50, ge=2, description="Fewer rows with a target always fail.")
    # Defaults made with model_construct: calling the model would build its validator on import, in
    # every function's cold start (the inference function never validates a config).
    target_missing: TargetMissingRule = TargetMissingRule.model_construct()
    feature_missing: FeatureMissingRule = FeatureMissingRule.model_construct()
    duplicate_rows: DuplicateRowsRule = DuplicateRowsRule.model_construct()
    conflicting_labels: ConflictingLabelsRule = ConflictingLabelsRule.model_construct()
    constant_column: ConstantColumnRule = ConstantColumnRule.model_construct()
    identifier_column: IdentifierColumnRule = IdentifierColumnRule.model_construct()
    numeric_parsing: NumericParsingRule = NumericParsingRule.model_construct()
    infinite_values: InfiniteValuesRule = InfiniteValuesRule.model_construct()
    rare_class: RareClassRule = RareClassRule.model_construct()
    column_removed: ColumnRemovedRule = ColumnRemovedRule.model_construct()
    column_retyped: ColumnRetypedRule = ColumnRetypedRule.model_construct()
    column_added: ColumnAddedRule = ColumnAddedRule.model_construct()

    @model_validator(mode="before")
    @classmethod
    def _upgrade_flat_fields(cls, data: Any) -> Any:
        legacy = (*_LEGACY_VALIDATION, "identifier_unique_ratio")
        if not isinstance(data, dict) or not any(key in data for key in legacy):
            return data
        upgraded = dict(data)
        identifier = upgraded.pop("identifier_unique_ratio", None)
        if identifier is not None and identifier != 0.95:
            upgraded.setdefault("identifier_column", {"unique_ratio": identifier})
        for key, (rule, field, default) in _LEGACY_VALIDATION.items():
            if key not in upgraded:
                continue
            value = upgraded.pop(key)
            if value != default and rule not in upgraded:
                upgraded[rule] = {"severity": "fail", field: value}
        return upgraded


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


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)\s*$")


def parse_duration(text: str) -> float:
    """``30s``, ``10m`` or ``1h`` (a bare number is seconds) in seconds."""
    match = _DURATION.match(text) or _DURATION.match(f"{text}s")
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"Duration {text!r} is not of the form 30s, 10m or 1h.")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


def _valid_steps(steps: tuple[int, ...]) -> tuple[int, ...]:
    if not steps or list(steps) != sorted(set(steps)) or steps[-1] != 100 or steps[0] < 1:
        raise ValueError("canary steps must rise strictly from at least 1 and end at 100, e.g. [10, 50, 100]")
    return steps


class GuardrailConfig(_Strict):
    """What rolls a candidate back by itself during a canary."""

    max_error_rate: float = _share(
        0.01,
        "The candidate's share of failed requests (a 4xx on input production accepts, or a 5xx) above "
        "which it is rolled back.",
    )
    max_p99_latency_ms: float = Field(
        default=250.0, gt=0, description="The candidate's p99 latency (ms) above which it is rolled back."
    )
    min_requests: int = Field(
        default=20, ge=1, description="Requests the candidate must have served before a step advances."
    )
    max_accuracy_drop: float = _share(
        0.05,
        "Ground truth (classification): the candidate's live accuracy on labelled requests may fall at "
        "most this far below production's before it is rolled back.",
    )
    max_rmse_increase: float = Field(
        default=0.1,
        ge=0,
        description="Ground truth (regression): the candidate's live RMSE on labelled requests may exceed "
        "production's by at most this share before it is rolled back.",
    )
    min_labels: int = Field(
        default=20,
        ge=1,
        description="Labelled rows each side needs before the ground-truth guardrail applies (inactive "
        "below).",
    )


class CanaryConfig(_Strict):
    steps: Annotated[tuple[int, ...], AfterValidator(_valid_steps)] = Field(
        default=(10, 50, 100), description="Percent of requests sent to the candidate, step by step."
    )
    bake: str = Field(default="10m", description="How long each step is held: 30s, 10m, 1h.")

    @property
    def bake_seconds(self) -> float:
        return parse_duration(self.bake)

    @model_validator(mode="after")
    def _valid_bake(self) -> CanaryConfig:
        self.bake_seconds  # noqa: B018 - validates
        return self


class ShadowConfig(_Strict):
    """The shadow gate: the candidate scores production's captured requests without answering them."""

    requests: int = Field(
        default=200,
        ge=1,
        le=5000,
        description="Production requests the candidate scores before the gate decides (at most 5,000: "
        "each check replays them all).",
    )
    min_agreement: float = _share(
        0.95, "Classification: the share of rows where the candidate predicts what production answered."
    )
    max_relative_error: float = Field(
        default=0.1,
        ge=0,
        description="Regression: the mean of |candidate - production| / max(|production|, 1e-9) over rows.",
    )


class DeploymentConfig(_Strict):
    strategy: Literal["direct", "canary", "shadow"] = Field(
        default="direct",
        description="direct: a candidate that passes review replaces production at once; canary: it "
        "takes canary.steps percent of the requests, each step held for canary.bake; shadow: it scores "
        "shadow.requests of production's requests without answering and is promoted if the gate holds.",
    )
    approval: Literal["auto", "manual"] = Field(
        default="auto",
        description="manual: a candidate that passes review waits as pending_approval until "
        "`mlops models approve` or `reject`.",
    )
    canary: CanaryConfig = CanaryConfig.model_construct()
    shadow: ShadowConfig = ShadowConfig.model_construct()
    guardrails: GuardrailConfig = GuardrailConfig.model_construct()


class DatasetConfig(_Strict):
    target: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        description="The column to predict."
    )
    task: Task = Field(default="classification", description="What kind of model to train.")
    estimator: Estimator = Field(default="auto", description="The scikit-learn estimator.")
    params: dict[str, float | int | str | bool | None] = Field(
        default_factory=dict, description="Estimator hyperparameters overriding the defaults."
    )
    search: SearchConfig = SearchConfig.model_construct()
    holdout_fraction: float = Field(
        default=0.2, gt=0, lt=0.9, description="Share of rows held out for metrics and promotion."
    )
    seed: int = Field(default=42, description="Seeds the split, the estimator and the search.")
    training_backend: Literal["default", "inline", "sagemaker"] = Field(
        default="default", description="Where training runs."
    )
    training_instance: Annotated[
        str, StringConstraints(max_length=64, pattern=r"^(auto|ml\.[a-z0-9]+\.[a-z0-9]+)$")
    ] = Field(
        default="auto",
        description="The SageMaker training job's instance type; `auto` sizes it from the table.",
    )
    promotion: PromotionConfig = PromotionConfig.model_construct()
    validation: ValidationConfig = ValidationConfig.model_construct()
    drift: DriftConfig = DriftConfig.model_construct()
    retraining: RetrainingConfig = RetrainingConfig.model_construct()
    deployment: DeploymentConfig = DeploymentConfig.model_construct()

    @model_validator(mode="after")
    def _fits_the_task(self) -> DatasetConfig:
        if self.estimator not in ESTIMATORS_BY_TASK[self.task]:
            allowed = ", ".join(ESTIMATORS_BY_TASK[self.task])
            raise ValueError(f"estimator {self.estimator!r} does not do {self.task}; use one of {allowed}")
        metric = self.promotion.metric
        if metric is not None and metric not in METRICS_BY_TASK[self.task]:
            allowed = ", ".join(METRICS_BY_TASK[self.task])
            raise ValueError(f"promotion.metric {metric!r} is not a {self.task} metric; use one of {allowed}")
        return self

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
        "One config per dataset, kept as numbered revisions in the metadata table; each run records the",
        "revision it used (`mlops runs show`, `mlops lineage`). Write it as a YAML file:",
        "",
        "```yaml",
        "target: default",
        "task: classification",
        "validation:",
        "  feature_missing: {severity: warn, max_ratio: 0.5}",
        "  duplicate_rows: {severity: fail, max_ratio: 0.2}",
        "```",
        "",
        "- `mlops datasets configure NAME --file config.yaml [--dry-run]` validates it, prints the diff and",
        "  writes a new revision; `mlops upload FILE --dataset NAME --config config.yaml` does the same",
        "  before uploading; `mlops upload ... --target COL [--task ...]` changes just those two fields.",
        "- `mlops datasets config NAME` prints the effective config, defaults included, in the same form;",
        "  `mlops datasets schema` prints its JSON Schema for editors.",
        "- Without the CLI: put the file at `s3://<DataBucketName>/raw/NAME/mlops.yaml`, beside the data.",
        "  It is applied once per change (a new ETag) as a new revision, then CSVs uploaded under",
        "  `raw/NAME/` train with it. It is never trained on. An invalid one changes nothing; its reason",
        "  shows in `mlops datasets show NAME` and the ingest function's log, and CSV uploads fail with it",
        "  until it is fixed or deleted.",
        "- **Which wins when both exist:** the latest change. The object is applied when it changes; a",
        "  `configure` (or `upload --config/--target`) after that supersedes it until the object changes",
        "  again. An object older than the current revision is not applied.",
        "",
        "A file is the whole config: a field it leaves out takes the default below, not the value stored",
        "before. An invalid file gets one sentence naming the field and what it allows, and changes",
        "nothing. Generated from `mlops.config.DatasetConfig` (`python -m mlops.config`).",
        "",
        "| field | type | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    notes = [
        "",
        "## Validation rules",
        "",
        "Every rule under `validation` has a `severity`: `fail` stops the run with the rule's message,",
        "`warn` lets it go on and the message says what was done, `off` skips the rule. The defaults fail",
        "only what makes training meaningless or unsafe; the rest warns and acts. Each warning names its",
        "column, its figure and the action, and shows in `mlops upload --wait`, `mlops runs show` and the",
        "validation report (`reports/validation/<dataset>/<run>.json` in the artifact bucket).",
        "",
        "Always fail (not configurable): the target column is absent; fewer than `validation.min_rows`",
        "rows have a target; the target has a single class, or more than half of its classes are rare",
        "(a continuous value: set the task to regression), or a regression target is not numeric or does",
        "not vary; no feature column is left; the file is not a table (refused at ingest).",
        "",
        "Schema checks compare with the last *accepted* version of the dataset (one whose validation",
        "passed), never a rejected upload: `column_removed` looks at that version's features and target,",
        "`column_retyped` treats integer and float, and string and datetime, as compatible. Retraining",
        "(`mlops retrain`, schedules, drift) trains the latest accepted version with the current config.",
        "Content identical to an existing version trains again when the config changed since it last ran",
        "(fix a config, upload the same file); otherwise it starts nothing. A changed target or task starts",
        "a new model line: its first candidate is compared with the trivial baseline only.",
        "",
        "Configs stored by earlier releases load unchanged: their flat fields (`max_missing_ratio`,",
        "`max_target_missing_ratio`, `max_duplicate_ratio`, `min_class_count`, `identifier_unique_ratio`)",
        "take the new defaults when they held the old defaults, and otherwise become the rule with",
        "`severity: fail` and that threshold.",
        "",
        "## Notes",
        "",
        "- `estimator: auto` is histogram gradient boosting for either task; `logistic_regression` is for",
        "  classification, `linear_regression` and `ridge` for regression.",
        "- `promotion.metric` unset means `f1_macro` (classification) or `rmse` (regression); a candidate is",
        "  promoted when it is not worse than production by more than `promotion.tolerance` on the",
        "  candidate's holdout, and the first model must beat the trivial baseline (majority class or mean).",
        "- `training_backend: default` trains inline up to the function's `INLINE_MAX_ROWS` rows and on",
        "  SageMaker past that, when the stack has a SageMaker image and role.",
        "- `training_instance: auto` starts a SageMaker training job on the stack's `SAGEMAKER_INSTANCE_TYPE`",
        "  (`ml.m5.xlarge`) and moves up the ml.m5 sizes (to `ml.m5.24xlarge`) when the table's rows times",
        '  columns need more memory for the fit (docs/performance.md, "Training job memory"); a table no',
        "  size holds fails its run before a job starts. A type you name (`ml.r5.4xlarge`) is used as it is.",
        "- Schedules take the form `rate(N minutes|hours|days)`; drift and retraining ticks run every 15",
        "  minutes and act on the datasets that are due.",
        "",
        "## Deployment",
        "",
        "```yaml",
        "deployment:",
        "  approval: manual",
        "  strategy: canary",
        "  canary: {steps: [10, 50, 100], bake: 10m}",
        "  guardrails: {max_error_rate: 0.01, max_p99_latency_ms: 250}",
        "```",
        "",
        "- `approval: manual`: a candidate that passes review waits as `pending_approval`; production does",
        "  not change until `mlops models approve NAME VERSION --reason ...` (or `reject`). The alias",
        "  history and lineage record the caller's AWS identity and the reason.",
        "- `strategy: canary`: a candidate that passes review (and approval) starts a rollout",
        "  (`mlops rollouts show NAME`); `direct` moves production at once. `mlops models rollout` starts",
        "  one by hand with the same settings, overridable per rollout.",
        "- A canary step advances after its bake once the candidate served `guardrails.min_requests`",
        "  requests within the guardrails; a breach (error rate, p99 latency) at any check, or the",
        "  candidate's CloudWatch alarm, rolls it back: weight 0, model status `rolled_back` with the",
        "  figure that breached. See docs/rollouts.md.",
    ]
    return "\n".join(header + _describe(DatasetConfig) + notes) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
