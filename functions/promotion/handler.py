"""Review and promotion: candidate vs production; the alias moves by a conditional write."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

import mlops.ml.convert  # noqa: F401  (the heavy ML stack loads in the init phase, not per invocation)
from mlops.observability import instrumented, metrics
from mlops.pipeline.handlers import step_input, step_output
from mlops.pipeline.promote import promote_run
from mlops.rollout_starter import StepFunctionsStarter
from mlops.settings import PromotionSettings, load_settings

settings = load_settings(PromotionSettings)
starter = StepFunctionsStarter(settings.rollout_state_machine_arn)


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload, deps = step_input(event, settings)
    result = promote_run(deps, payload, starter)
    promoted = bool(result.promotion and result.promotion.promoted)
    metrics.add_metric(
        name="ModelsPromoted" if promoted else "ModelsRejected", unit=MetricUnit.Count, value=1
    )
    return step_output(result)
