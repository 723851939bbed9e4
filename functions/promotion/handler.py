"""Review and promotion: candidate vs production; the alias moves by a conditional write."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

import mlops.ml.convert  # noqa: F401  (the heavy ML stack loads in the init phase, not per invocation)
from mlops.observability import inject_context, invocation_keys, metrics, tracer
from mlops.pipeline.deps import build_deps
from mlops.pipeline.payload import RunPayload
from mlops.pipeline.promote import promote_run
from mlops.rollout_starter import StepFunctionsStarter
from mlops.settings import PromotionSettings, load_settings

settings = load_settings(PromotionSettings)
starter = StepFunctionsStarter(settings.rollout_state_machine_arn)


@inject_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(event=event, model=RunPayload)
    invocation_keys(run_id=payload.run_id, dataset=payload.dataset)
    deps = build_deps(settings.metadata_table, settings.data_bucket, settings.artifact_bucket)
    result = promote_run(deps, payload, starter)
    promoted = bool(result.promotion and result.promotion.promoted)
    metrics.add_metric(
        name="ModelsPromoted" if promoted else "ModelsRejected", unit=MetricUnit.Count, value=1
    )
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)
