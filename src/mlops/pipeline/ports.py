"""What the pipeline needs of the outside world, as Protocols: the adapters over boto3 implement them
(``mlops.storage``, ``mlops.executions``, ``mlops.execution_states``, ``mlops.training_jobs``), and unit tests pass in-memory fakes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mlops.execution_states import ExecutionState
    from mlops.models import ArtifactRef
    from mlops.storage import ObjectHead
    from mlops.training_jobs import TrainingJob


class ObjectStore(Protocol):
    """The S3 buckets: artifacts addressed with their sha256."""

    def put(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> ArtifactRef: ...

    def get(self, bucket: str, key: str, version_id: str | None = None) -> bytes: ...

    def get_verified(self, ref: ArtifactRef) -> bytes: ...

    def head(self, bucket: str, key: str) -> ObjectHead | None: ...

    def version_count(self, bucket: str, key: str) -> int: ...


class ExecutionStarter(Protocol):
    """Step Functions, starting: one execution per run, named after it."""

    def start(self, state_machine_arn: str, name: str, document: str) -> str: ...


class ExecutionStates(Protocol):
    """Step Functions, reading: how a run's execution stands."""

    def state(self, arn: str) -> ExecutionState | None: ...


class TrainingJobService(Protocol):
    """SageMaker training jobs."""

    def create(self, request: dict[str, Any]) -> bool: ...

    def describe(self, name: str) -> TrainingJob: ...
