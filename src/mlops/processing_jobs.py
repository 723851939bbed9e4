"""The SageMaker Processing adapter: create a processing job once, and read how one stands.

A sibling of ``mlops.training_jobs`` with the same errors (``mlops.sagemaker_jobs``), in a module of
its own: the validation function's role may run processing jobs, not training jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from mlops.sagemaker_jobs import SageMakerAdapter, create_job, describe_job


@dataclass(frozen=True)
class ProcessingJob:
    """What ``DescribeProcessingJob`` says of a job: the fields the pipeline reads."""

    name: str
    status: Literal["InProgress", "Completed", "Failed", "Stopping", "Stopped"]
    role_arn: str
    output_uris: list[str]  # ProcessingOutputConfig.Outputs[].S3Output.S3Uri
    exit_message: str | None = None
    failure_reason: str | None = None


class ProcessingJobs(SageMakerAdapter):
    def create(self, request: dict[str, Any]) -> bool:
        """Create the job ``request`` describes (``CreateProcessingJob``'s arguments): True if created,
        False if a job of its name already exists."""
        return create_job(
            lambda: self.sagemaker.create_processing_job(**request),
            "processing job",
            request["ProcessingJobName"],
        )

    def describe(self, name: str) -> ProcessingJob:
        """The job ``name``; NotFound when SageMaker has none by that name."""
        job = describe_job(
            lambda: self.sagemaker.describe_processing_job(ProcessingJobName=name), "processing job", name
        )
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
