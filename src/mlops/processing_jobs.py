"""The SageMaker Processing adapter: create a processing job once, and read how one stands.

A sibling of ``mlops.training_jobs`` with the same errors: a job name already taken is not an error
(``create`` says so and the caller checks the job is its own; ``CreateProcessingJob`` reports it as
``ResourceInUse`` or as a ``ValidationException`` saying the name must be unique), any other request
SageMaker refuses is ``BadRequest`` with its reason, a job SageMaker does not know is ``NotFound``, a
throttled, failing or unreachable service is ``DependencyUnavailable``. (A module of its own: the
validation function's role may run processing jobs, not training jobs.)
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
                message = aws.error_message(error)
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
