"""Names and deployment settings of the CDK app; everything the stack is made of comes from the description."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_logs as logs

from mlops.definition.description import FUNCTIONS, FunctionSpec, resource_name
from mlops.definition.outputs import DEFAULT_STACK_NAME

# The stack that holds the account's and region's singletons (API Gateway's CloudWatch role), deployed
# once however many stages share the account; every stage stack depends on it.
ACCOUNT_STACK_NAME = "MlopsAccount"
DEFAULT_STAGE = "dev"
STAGE_CONTEXT = "stage"
STACK_NAME_CONTEXT = "stack_name"
PROVISIONED_CONCURRENCY_CONTEXT = "provisioned_concurrency"

Stage = Literal["dev", "prod"]
STAGES: tuple[Stage, ...] = ("dev", "prod")

# Zip functions, their layers (layers/build.py builds for the same version) and the ML image run the
# same Python, on x86_64.
PYTHON_VERSION = "3.12"

# The layer that also carries the project's own package (``src/mlops``).
PROJECT_LAYER = "core"
# The image every ``packaging="image"`` function runs, and SageMaker training jobs with it.
ML_IMAGE = "ml"

# The SNS topic alarms notify (the embedded stack names it the same: Ref("topic", "notifications")).
NOTIFICATION_TOPIC = "notifications"

# API Gateway stage throttling: steady requests per second and burst.
API_THROTTLE_RATE = 50
API_THROTTLE_BURST = 100
# The alias API Gateway invokes: the inference function's published version (SnapStart snapshots it).
LIVE_ALIAS = "live"
# Alarm thresholds on the inference API.
API_LATENCY_P99_MS = 3000
ALARM_PERIOD = Duration.minutes(5)


# Per-function deployment options, each a context key ``<option>.<function>`` (``-c memory_mb.training=
# 10240``), or ``<stage>.<option>.<function>`` for one stage only: the allowed range of each. They exist
# because account quotas differ (docs/deploy.md, "A new account"); the description's values are the
# defaults, safe for a new account.
FUNCTION_OPTIONS: dict[str, tuple[int, int]] = {
    "memory_mb": (128, 10240),
    "reserved_concurrency": (0, 1000),
}


@dataclass(frozen=True)
class StageConfig:
    """What differs between a disposable dev stack and a production one, and what a deployment chooses."""

    name: Stage
    removal_policy: RemovalPolicy
    log_retention: logs.RetentionDays
    access_log_expiry_days: int
    # Per-function overrides of the description, by function name (FUNCTION_OPTIONS).
    memory_mb: Mapping[str, int] = field(default_factory=dict)
    reserved_concurrency: Mapping[str, int] = field(default_factory=dict)
    # Provisioned concurrency on the inference API's alias: environments kept initialised, so no
    # request meets a cold start, at an idle cost per environment-hour (docs/deploy.md). Lambda does not
    # combine it with SnapStart, which the API function then runs without. 0: off.
    provisioned_concurrency: int = 0

    @property
    def destroy_on_delete(self) -> bool:
        return self.removal_policy == RemovalPolicy.DESTROY

    def resource_name(self, name: str) -> str:
        """A physical name with the app and stage in it, e.g. ``mlops-dev-ingest``."""
        return resource_name(self.name, name)

    def function_memory_mb(self, spec: FunctionSpec) -> int:
        return self.memory_mb.get(spec.name, spec.memory_mb)

    def function_reserved_concurrency(self, spec: FunctionSpec) -> int | None:
        return self.reserved_concurrency.get(spec.name, spec.reserved_concurrency)


STAGE_CONFIGS: dict[Stage, StageConfig] = {
    "dev": StageConfig("dev", RemovalPolicy.DESTROY, logs.RetentionDays.ONE_MONTH, 30),
    # Kept on deletion and on a failed update, but removed when the stack's first create rolls back, so
    # a retry does not collide with what the failed attempt left (named log groups).
    "prod": StageConfig("prod", RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE, logs.RetentionDays.ONE_YEAR, 365),
}


def stage_config(stage: str, context: Mapping[str, Any] | None = None) -> StageConfig:
    """The stage's configuration with the function options the context sets."""
    if stage not in STAGE_CONFIGS:
        raise ValueError(f"Unknown stage {stage!r}: use one of {', '.join(STAGES)} (-c stage=...).")
    config = STAGE_CONFIGS[stage]
    names = {spec.name for spec in FUNCTIONS}
    overrides: dict[str, dict[str, int]] = {option: {} for option in FUNCTION_OPTIONS}
    for key, value in (context or {}).items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] in STAGES:
            if parts[0] != stage:
                continue
            parts = parts[1:]
        if len(parts) != 2 or parts[0] not in FUNCTION_OPTIONS:
            continue
        option, function = parts
        if function not in names:
            raise ValueError(f"Context {key!r} names no function: use one of {', '.join(sorted(names))}.")
        low, high = FUNCTION_OPTIONS[option]
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"Context {key!r} must be a whole number, not {value!r}.") from None
        if not low <= number <= high:
            raise ValueError(f"Context {key!r} must be between {low} and {high}, not {number}.")
        overrides[option][function] = number
    merged: dict[str, Any] = {
        option: {**getattr(config, option), **values} for option, values in overrides.items()
    }
    provisioned = (context or {}).get(f"{stage}.{PROVISIONED_CONCURRENCY_CONTEXT}")
    if provisioned is None:
        provisioned = (context or {}).get(PROVISIONED_CONCURRENCY_CONTEXT)
    if provisioned is not None:
        merged[PROVISIONED_CONCURRENCY_CONTEXT] = _provisioned_concurrency(provisioned)
    return replace(config, **merged)


def _provisioned_concurrency(value: object) -> int:
    try:
        count = int(str(value))
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError(
            f"provisioned_concurrency must be a whole number of environments, 0 for none; got {value!r}."
        )
    return count


def default_stack_name(stage: str) -> str:
    """``MlopsStack`` for dev (the CLI's default ``--stack``), ``MlopsStack-prod`` for prod."""
    return DEFAULT_STACK_NAME if stage == DEFAULT_STAGE else f"{DEFAULT_STACK_NAME}-{stage}"
