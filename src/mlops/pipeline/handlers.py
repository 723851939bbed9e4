"""What the pipeline's handlers (functions/<step>/handler.py) do around their one domain call.

A state machine step receives the run's document and returns it with its own section filled in
(``mlops.pipeline.payload``); every pipeline function builds the same dependencies from its settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parser import parse

from mlops.observability import invocation_keys
from mlops.pipeline.deps import Deps, build_deps
from mlops.pipeline.payload import RunPayload

if TYPE_CHECKING:  # the concrete adapters: build_deps caches on them; each function imports only its own
    from mlops.execution_states import StepFunctionsExecutionStates
    from mlops.executions import StepFunctionsExecutions
    from mlops.processing_jobs import ProcessingJobs
    from mlops.training_jobs import TrainingJobs
from mlops.settings import PipelineSettings


def deps_from(
    settings: PipelineSettings,
    *,
    execution_starter: StepFunctionsExecutions | None = None,
    execution_reader: StepFunctionsExecutionStates | None = None,
    training_job_service: TrainingJobs | None = None,
    processing_job_service: ProcessingJobs | None = None,
) -> Deps:
    """The function's dependencies: the registry and storage, plus only the adapters its role allows."""
    return build_deps(
        settings.metadata_table,
        settings.data_bucket,
        settings.artifact_bucket,
        execution_starter=execution_starter,
        execution_reader=execution_reader,
        training_job_service=training_job_service,
        processing_job_service=processing_job_service,
    )


def step_input(
    event: dict[str, Any],
    settings: PipelineSettings,
    *,
    training_job_service: TrainingJobs | None = None,
    processing_job_service: ProcessingJobs | None = None,
) -> tuple[RunPayload, Deps]:
    """The run document a state machine step receives, with the run and dataset on every log line of the
    invocation, and the step's dependencies."""
    payload = parse(event=event, model=RunPayload)
    invocation_keys(run_id=payload.run_id, dataset=payload.dataset)
    return payload, deps_from(
        settings, training_job_service=training_job_service, processing_job_service=processing_job_service
    )


def step_output(result: RunPayload) -> dict[str, Any]:
    """The document the step hands to the next state (``OutputPath: $.Payload``)."""
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)
