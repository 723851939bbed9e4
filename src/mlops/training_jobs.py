"""The SageMaker adapter: create a training job once, and read how one stands.

SageMaker's errors become the domain's as ``mlops.sagemaker_jobs`` says: a name already taken is
``create`` returning False, a refused request (a hyperparameter past its limit...) ``BadRequest``,
an unknown job ``NotFound``, a throttled or unreachable service ``DependencyUnavailable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from mlops.sagemaker_jobs import SageMakerAdapter, create_job, describe_job


@dataclass(frozen=True)
class TrainingJob:
    """What ``DescribeTrainingJob`` says of a job: the fields the pipeline reads."""

    name: str
    status: Literal["InProgress", "Completed", "Failed", "Stopping", "Stopped", "Deleting"]
    role_arn: str
    output_path: str  # OutputDataConfig.S3OutputPath
    failure_reason: str | None = None
    model_uri: str | None = None  # ModelArtifacts.S3ModelArtifacts, once the job wrote it


class TrainingJobs(SageMakerAdapter):
    def create(self, request: dict[str, Any]) -> bool:
        """Create the job ``request`` describes (``CreateTrainingJob``'s arguments): True if created,
        False if a job of its name already exists."""
        return create_job(
            lambda: self.sagemaker.create_training_job(**request), "training job", request["TrainingJobName"]
        )

    def describe(self, name: str) -> TrainingJob:
        """The job ``name``; NotFound when SageMaker has none by that name."""
        job = describe_job(
            lambda: self.sagemaker.describe_training_job(TrainingJobName=name), "training job", name
        )
        return TrainingJob(
            name=job["TrainingJobName"],
            status=job["TrainingJobStatus"],
            role_arn=job.get("RoleArn", ""),
            output_path=str(job.get("OutputDataConfig", {}).get("S3OutputPath", "")),
            failure_reason=job.get("FailureReason"),
            model_uri=job.get("ModelArtifacts", {}).get("S3ModelArtifacts"),
        )


@cache
def default_training_jobs() -> TrainingJobs:
    """One adapter per process over the cached client factory's SageMaker client."""
    return TrainingJobs()
