"""What the pipeline's handlers (functions/<step>/handler.py) do around their one domain call.

A state machine step receives the run's document and returns it with its own section filled in
(``mlops.pipeline.payload``); every pipeline function builds the same dependencies from its settings.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse

from mlops.observability import invocation_keys
from mlops.pipeline.deps import Deps, build_deps
from mlops.pipeline.payload import RunPayload
from mlops.settings import PipelineSettings


def deps_from(settings: PipelineSettings) -> Deps:
    """The function's dependencies, built once per container (``build_deps`` caches them)."""
    return build_deps(settings.metadata_table, settings.data_bucket, settings.artifact_bucket)


def step_input(event: dict[str, Any], settings: PipelineSettings) -> tuple[RunPayload, Deps]:
    """The run document a state machine step receives, with the run and dataset on every log line of the
    invocation, and the step's dependencies."""
    payload = parse(event=event, model=RunPayload)
    invocation_keys(run_id=payload.run_id, dataset=payload.dataset)
    return payload, deps_from(settings)


def step_output(result: RunPayload) -> dict[str, Any]:
    """The document the step hands to the next state (``OutputPath: $.Payload``)."""
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)
