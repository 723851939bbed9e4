"""What the pipeline stages need from the outside world, injected: adapters over boto3 in the
functions, in-memory fakes of the same Protocols (``mlops.pipeline.ports``) in unit tests.

Each handler wires only the adapters its role may use: a stage that never starts executions or
training jobs is built without them, and their modules stay out of its code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from mlops.config import DatasetConfig
from mlops.errors import ConfigError
from mlops.pipeline.payload import RunPayload
from mlops.pipeline.ports import (
    ExecutionStarter,
    ExecutionStates,
    ObjectStore,
    ProcessingJobService,
    TrainingJobService,
)
from mlops.registry import Registry
from mlops.storage import Storage


@dataclass(frozen=True)
class Deps:
    registry: Registry
    storage: ObjectStore
    data_bucket: str
    artifact_bucket: str
    execution_starter: ExecutionStarter | None = None
    execution_reader: ExecutionStates | None = None
    training_job_service: TrainingJobService | None = None
    processing_job_service: ProcessingJobService | None = None

    @property
    def executions(self) -> ExecutionStarter:
        if self.execution_starter is None:
            raise ConfigError("This function was built without Step Functions: it cannot start runs.")
        return self.execution_starter

    @property
    def execution_states(self) -> ExecutionStates:
        if self.execution_reader is None:
            raise ConfigError("This function was built without Step Functions: it cannot read executions.")
        return self.execution_reader

    @property
    def training_jobs(self) -> TrainingJobService:
        if self.training_job_service is None:
            raise ConfigError("This function was built without SageMaker: it cannot run training jobs.")
        return self.training_job_service

    @property
    def processing_jobs(self) -> ProcessingJobService:
        if self.processing_job_service is None:
            raise ConfigError("This function was built without SageMaker: it cannot run processing jobs.")
        return self.processing_job_service


@lru_cache(maxsize=8)
def build_deps(
    metadata_table: str,
    data_bucket: str,
    artifact_bucket: str,
    execution_starter: ExecutionStarter | None = None,
    execution_reader: ExecutionStates | None = None,
    training_job_service: TrainingJobService | None = None,
    processing_job_service: ProcessingJobService | None = None,
) -> Deps:
    """One Deps per container (the adapters are built once, by their own cached factories)."""
    registry = Registry(metadata_table)
    adapters = (execution_starter, execution_reader, training_job_service, processing_job_service)
    return Deps(registry, Storage(), data_bucket, artifact_bucket, *adapters)


def run_config(deps: Deps, payload: RunPayload) -> DatasetConfig:
    """The config revision the run started with: every stage of one run sees the same config. (Here,
    not beside ``start_run``: the stages that read it never start runs, and their roles cannot.)"""
    return deps.registry.datasets.config_revision(payload.dataset, payload.config_revision).config
