"""The SageMaker adapter: create a training job once, and read how one stands.

SageMaker's errors become the domain's. A job name already taken (SageMaker's ``ResourceInUse``) is
not an error: ``create`` says so and the caller checks the job is its own. A request SageMaker refuses
(``ValidationException``: a role it cannot assume, an instance type it does not offer, a
hyperparameter past its limit) is ``BadRequest`` with SageMaker's reason. A throttled, failing or
unreachable service is ``DependencyUnavailable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from mlops import aws
from mlops.errors import BadRequest, NotFound

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient


@dataclass(frozen=True)
class TrainingJob:
    """What ``DescribeTrainingJob`` says of a job: the fields the pipeline reads."""

    name: str
    status: Literal["InProgress", "Completed", "Failed", "Stopping", "Stopped", "Deleting"]
    role_arn: str
    output_path: str  # OutputDataConfig.S3OutputPath
    failure_reason: str | None = None
    model_uri: str | None = None  # ModelArtifacts.S3ModelArtifacts, once the job wrote it


class TrainingJobs:
    def __init__(self, client: SageMakerClient | None = None) -> None:
        self._client = client

    @property
    def sagemaker(self) -> SageMakerClient:
        return self._client or aws.sagemaker()

    def create(self, request: dict[str, Any]) -> bool:
        """Create the job ``request`` describes (``CreateTrainingJob``'s arguments): True if created,
        False if a job of its name already exists."""
        name = request["TrainingJobName"]
        try:
            with aws.unavailable_as("SageMaker"):
                self.sagemaker.create_training_job(**request)
        except Exception as error:
            code = aws.error_code(error)
            if code == "ResourceInUse":
                return False
            if code == "ValidationException":
                raise BadRequest(
                    f"SageMaker refused to create training job {name}: {aws.error_message(error)}."
                ) from error
            raise
        return True

    def describe(self, name: str) -> TrainingJob:
        """The job ``name``; NotFound when SageMaker has none by that name."""
        try:
            with aws.unavailable_as("SageMaker"):
                job = self.sagemaker.describe_training_job(TrainingJobName=name)
        except Exception as error:
            # DescribeTrainingJob's one parameter is the name: its ValidationException is "not found".
            if aws.error_code(error) in {"ValidationException", "ResourceNotFound"}:
                raise NotFound(f"SageMaker has no training job {name}.") from error
            raise
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
