"""Names and deployment settings of the CDK app; everything the stack is made of comes from the description."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_logs as logs

from mlops.stack.outputs import DEFAULT_STACK_NAME

APP_NAME = "mlops"
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

# Which construct builds which function: the API's function is ``description.API_FUNCTION``; these
# belong to monitoring; every other function is a pipeline function.
MONITORING_FUNCTIONS = ("drift",)

# API Gateway stage throttling: steady requests per second and burst.
API_THROTTLE_RATE = 50
API_THROTTLE_BURST = 100
# The alias API Gateway invokes: the inference function's published version (SnapStart snapshots it).
LIVE_ALIAS = "live"
# Alarm thresholds on the inference API.
API_LATENCY_P99_MS = 3000
ALARM_PERIOD = Duration.minutes(5)


@dataclass(frozen=True)
class StageConfig:
    """What differs between a disposable dev stack and a production one."""

    name: Stage
    removal_policy: RemovalPolicy
    log_retention: logs.RetentionDays
    access_log_expiry_days: int
    # Provisioned concurrency on the inference API's alias: environments kept initialised, so no
    # request meets a cold start, at an idle cost per environment-hour (docs/deploy.md). Lambda does not
    # combine it with SnapStart, which the API function then runs without. 0: off.
    provisioned_concurrency: int = 0

    @property
    def destroy_on_delete(self) -> bool:
        return self.removal_policy == RemovalPolicy.DESTROY

    def resource_name(self, name: str) -> str:
        """A physical name with the app and stage in it, e.g. ``mlops-dev-ingest``."""
        return f"{APP_NAME}-{self.name}-{name}"


STAGE_CONFIGS: dict[Stage, StageConfig] = {
    "dev": StageConfig("dev", RemovalPolicy.DESTROY, logs.RetentionDays.ONE_MONTH, 30),
    "prod": StageConfig("prod", RemovalPolicy.RETAIN, logs.RetentionDays.ONE_YEAR, 365),
}


def stage_config(stage: str, provisioned_concurrency: object = None) -> StageConfig:
    """The stage's configuration; ``-c provisioned_concurrency=N`` overrides the stage's own figure."""
    if stage not in STAGE_CONFIGS:
        raise ValueError(f"Unknown stage {stage!r}: use one of {', '.join(STAGES)} (-c stage=...).")
    config = STAGE_CONFIGS[stage]
    if provisioned_concurrency is None:
        return config
    try:
        count = int(str(provisioned_concurrency))
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError(
            f"provisioned_concurrency must be a whole number of environments, 0 for none; got {provisioned_concurrency!r}."
        )
    return dataclasses.replace(config, provisioned_concurrency=count)


def default_stack_name(stage: str) -> str:
    """``MlopsStack`` for dev (the CLI's default ``--stack``), ``MlopsStack-prod`` for prod."""
    return DEFAULT_STACK_NAME if stage == DEFAULT_STAGE else f"{DEFAULT_STACK_NAME}-{stage}"
