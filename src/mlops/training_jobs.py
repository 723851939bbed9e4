"""The SageMaker adapters: create a training or processing job once, and read how one stands.

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


MESSAGE_CHARS = 400  # SageMaker lists every allowed value of an enum it refuses: hundreds of them


def _message(error: Exception) -> str:
    response = getattr(error, "response", {})
    message = str(response.get("Error", {}).get("Message", "")).strip().rstrip(".") or str(error)
    return message if len(message) <= MESSAGE_CHARS else message[: MESSAGE_CHARS - 1] + "…"


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
                    f"SageMaker refused to create training job {name}: {_message(error)}."
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


@dataclass(frozen=True)
class ProcessingJob:
    """What ``DescribeProcessingJob`` says of a job: the fields the pipeline reads."""

    name: str
    status: Literal["InProgress", "Completed", "Failed", "Stopping", "Stopped"]
    role_arn: str
    output_uris: list[str]  # ProcessingOutputConfig.Outputs[].S3Output.S3Uri
    exit_message: str | None = None
    failure_reason: str | None = None


# CreateProcessingJob reports a name already taken as a ValidationException rather than ResourceInUse.
_NAME_TAKEN = ("must be unique", "already exists")


class ProcessingJobs:
    def __init__(self, client: SageMakerClient | None = None) -> None:
        self._client = client

    @property
    def sagemaker(self) -> SageMakerClient:
        return self._client or aws.sagemaker()

    def create(self, request: dict[str, Any]) -> bool:
        """Create the job ``request`` describes (``CreateProcessingJob``'s arguments): True if created,
        False if a job of its name already exists."""
        name = request["ProcessingJobName"]
        try:
            with aws.unavailable_as("SageMaker"):
                self.sagemaker.create_processing_job(**request)
        except Exception as error:
            code = aws.error_code(error)
            if code == "ResourceInUse":
                return False
            if code == "ValidationException":
                message = _message(error)
                if any(taken in message.lower() for taken in _NAME_TAKEN):
                    return False
                raise BadRequest(f"SageMaker refused to create processing job {name}: {message}.") from error
            raise
        return True

    def describe(self, name: str) -> ProcessingJob:
        """The job ``name``; NotFound when SageMaker has none by that name."""
        try:
            with aws.unavailable_as("SageMaker"):
                job = self.sagemaker.describe_processing_job(ProcessingJobName=name)
        except Exception as error:
            if aws.error_code(error) in {"ValidationException", "ResourceNotFound"}:
                raise NotFound(f"SageMaker has no processing job {name}.") from error
            raise
        outputs = job.get("ProcessingOutputConfig", {}).get("Outputs", [])
        return ProcessingJob(
            name=job["ProcessingJobName"],
            status=job["ProcessingJobStatus"],
            role_arn=job.get("RoleArn", ""),
            output_uris=[str(o.get("S3Output", {}).get("S3Uri", "")) for o in outputs],
            exit_message=job.get("ExitMessage"),
            failure_reason=job.get("FailureReason"),
        )


@cache
def default_processing_jobs() -> ProcessingJobs:
    """One adapter per process over the cached client factory's SageMaker client."""
    return ProcessingJobs()


@cache
def default_training_jobs() -> TrainingJobs:
    """One adapter per process over the cached client factory's SageMaker client."""
    return TrainingJobs()
