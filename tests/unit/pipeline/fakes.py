"""In-memory fakes of what the pipeline needs (``mlops.pipeline.ports``), for unit tests that run the
domain logic in milliseconds, without moto or the embedded stack."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, BinaryIO

from mlops.entities import ArtifactRef, Run, RunStatus
from mlops.errors import Conflict, NotFound
from mlops.execution_states import ExecutionState
from mlops.executions import execution_arn
from mlops.storage import IntegrityError, ObjectHead
from mlops.training_jobs import TrainingJob

MODIFIED = datetime(2025, 3, 1, 12, tzinfo=UTC)


@dataclass
class MemoryStore:
    """Buckets as a dict; each key keeps every version written to it."""

    objects: dict[tuple[str, str], list[bytes]] = field(default_factory=dict)

    def put(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> ArtifactRef:
        self.objects.setdefault((bucket, key), []).append(data)
        return ArtifactRef(bucket=bucket, key=key, sha256=hashlib.sha256(data).hexdigest(), size=len(data))

    def get(self, bucket: str, key: str, version_id: str | None = None) -> bytes:
        if (bucket, key) not in self.objects:
            raise NotFound(f"s3://{bucket}/{key} does not exist.")
        return self.objects[(bucket, key)][-1]

    def get_verified(self, ref: ArtifactRef) -> bytes:
        data = self.get(ref.bucket, ref.key)
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            raise IntegrityError(f"{ref.uri} does not match its recorded sha256.")
        return data

    def download_verified(self, ref: ArtifactRef, file: BinaryIO, chunk_bytes: int = 1 << 20) -> int:
        data = self.get_verified(ref)
        file.write(data)
        return len(data)

    def head(self, bucket: str, key: str) -> ObjectHead | None:
        versions = self.objects.get((bucket, key))
        if not versions:
            return None
        etag = hashlib.md5(versions[-1], usedforsecurity=False).hexdigest()
        return ObjectHead(etag=etag, size=len(versions[-1]), last_modified=MODIFIED, version_id=None)

    def version_count(self, bucket: str, key: str) -> int:
        return len(self.objects.get((bucket, key), []))


@dataclass
class MemoryTrainingJobs:
    """SageMaker's jobs by name: a create under a taken name is refused, as SageMaker refuses it."""

    jobs: dict[str, TrainingJob] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def create(self, request: dict[str, Any]) -> bool:
        name = request["TrainingJobName"]
        if name in self.jobs:
            return False
        self.requests.append(request)
        self.jobs[name] = TrainingJob(
            name=name,
            status="InProgress",
            role_arn=request["RoleArn"],
            output_path=request["OutputDataConfig"]["S3OutputPath"],
        )
        return True

    def describe(self, name: str) -> TrainingJob:
        if name not in self.jobs:
            raise NotFound(f"SageMaker has no training job {name}.")
        return self.jobs[name]

    def end(self, name: str, **changes: Any) -> None:
        """The job moves on, as SageMaker moves it."""
        self.jobs[name] = replace(self.jobs[name], **changes)


@dataclass
class MemoryExecutions:
    """Step Functions executions by ARN: a name starts once."""

    started: dict[str, str] = field(default_factory=dict)  # arn -> input
    states: dict[str, ExecutionState] = field(default_factory=dict)

    def start(self, state_machine_arn: str, name: str, document: str) -> str:
        arn = execution_arn(state_machine_arn, name)
        self.started.setdefault(arn, document)
        self.states.setdefault(arn, ExecutionState(status="RUNNING"))
        return arn

    def state(self, arn: str) -> ExecutionState | None:
        return self.states.get(arn)


@dataclass
class MemoryRuns:
    """The runs part of the registry: conditional creates and status-guarded saves, dataset locks."""

    runs: dict[str, Run] = field(default_factory=dict)
    locks: dict[str, str] = field(default_factory=dict)

    def create_run(self, run: Run) -> bool:
        if run.run_id in self.runs:
            return False
        self.runs[run.run_id] = run
        return True

    def get_run(self, run_id: str) -> Run:
        if run_id not in self.runs:
            raise NotFound(f"Run '{run_id}' does not exist.")
        return self.runs[run_id]

    def save_run(self, run: Run, expect_status: RunStatus | None = "RUNNING") -> None:
        current = self.runs.get(run.run_id)
        if expect_status is not None and (current is None or current.status != expect_status):
            raise Conflict(f"Run '{run.run_id}' is no longer {expect_status}.")
        self.runs[run.run_id] = run

    def release_lock(self, dataset: str, run_id: str) -> None:
        if self.locks.get(dataset) == run_id:
            del self.locks[dataset]


@dataclass
class MemoryRegistry:
    """The registry's stores these flows use: runs, and the dataset lock (kept beside the runs)."""

    runs: MemoryRuns

    @property
    def datasets(self) -> MemoryRuns:
        return self.runs
