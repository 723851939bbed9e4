"""The adapters turn AWS's errors into the domain's: each over a client that answers one way.

The clients here are in-memory fakes of the one operation each test calls, raising the exceptions
botocore raises; moto cannot throttle, fail with a 5xx or refuse a connection.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from mlops import aws, multipart
from mlops.entities import ArtifactRef
from mlops.errors import BadRequest, DependencyUnavailable, NotFound
from mlops.execution_states import StepFunctionsExecutionStates
from mlops.executions import StepFunctionsExecutions
from mlops.multipart import MultipartUpload
from mlops.processing_jobs import ProcessingJobs
from mlops.storage import IntegrityError, Storage
from mlops.training_jobs import TrainingJobs

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:mlops-dev-pipeline"


def client_error(code: str, operation: str, status: int = 400, message: str = "no") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


class Answering:
    """A client whose every operation raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, operation: str) -> Any:
        def call(**_: Any) -> Any:
            raise self.error

        return call


def test_throttling_5xx_and_no_connection_are_unavailable_and_the_rest_is_not() -> None:
    assert aws.unavailable(client_error("ThrottlingException", "StartExecution"))
    assert aws.unavailable(client_error("ProvisionedThroughputExceededException", "GetItem"))
    assert aws.unavailable(client_error("Whatever", "GetObject", status=503))
    assert aws.unavailable(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    assert not aws.unavailable(client_error("AccessDenied", "GetObject", status=403))
    assert not aws.unavailable(ValueError("a bug"))


@pytest.mark.parametrize(
    "error",
    [client_error("SlowDown", "GetObject", 503), EndpointConnectionError(endpoint_url="http://127.0.0.1:1")],
)
def test_storage_unavailable(error: Exception) -> None:
    storage = Storage(cast(Any, Answering(error)))
    with pytest.raises(DependencyUnavailable, match=r"^S3 is unavailable"):
        storage.get("b", "k")
    with pytest.raises(DependencyUnavailable):
        storage.head("b", "k")


def test_storage_missing_object() -> None:
    storage = Storage(cast(Any, Answering(client_error("404", "HeadObject", 404))))
    assert storage.head("b", "k") is None
    storage = Storage(cast(Any, Answering(client_error("NoSuchKey", "GetObject", 404))))
    with pytest.raises(NotFound, match="s3://b/k does not exist"):
        storage.get("b", "k")
    denied = client_error("AccessDenied", "GetObject", 403)
    with pytest.raises(ClientError):  # a misconfigured role is a bug to see, not a retry
        Storage(cast(Any, Answering(denied))).get("b", "k")


def test_executions_started_earlier_and_gone() -> None:
    taken = StepFunctionsExecutions(
        cast(Any, Answering(client_error("ExecutionAlreadyExists", "StartExecution")))
    )
    arn = MACHINE.replace(":stateMachine:", ":execution:") + ":run-1"
    assert taken.start(MACHINE, "run-1", "{}") == arn
    gone = StepFunctionsExecutionStates(
        cast(Any, Answering(client_error("ExecutionDoesNotExist", "DescribeExecution")))
    )
    assert gone.state(arn) is None
    throttled = StepFunctionsExecutions(
        cast(Any, Answering(client_error("ThrottlingException", "StartExecution")))
    )
    with pytest.raises(DependencyUnavailable, match=r"^Step Functions is unavailable"):
        throttled.start(MACHINE, "run-1", "{}")


def test_training_jobs_taken_name_refused_request_and_unknown_job() -> None:
    request = {"TrainingJobName": "mlops-dev-job-1"}
    taken = TrainingJobs(cast(Any, Answering(client_error("ResourceInUse", "CreateTrainingJob"))))
    assert taken.create(request) is False
    message = "1 validation error detected: Value 'ml.bogus' at 'resourceConfig.instanceType' failed"
    refused = TrainingJobs(
        cast(Any, Answering(client_error("ValidationException", "CreateTrainingJob", 400, message)))
    )
    with pytest.raises(BadRequest) as error:
        refused.create(request)
    assert str(error.value) == f"SageMaker refused to create training job mlops-dev-job-1: {message}."
    unknown = TrainingJobs(cast(Any, Answering(client_error("ValidationException", "DescribeTrainingJob"))))
    with pytest.raises(NotFound, match="no training job mlops-dev-job-1"):
        unknown.describe("mlops-dev-job-1")
    throttled = TrainingJobs(cast(Any, Answering(client_error("ThrottlingException", "CreateTrainingJob"))))
    with pytest.raises(DependencyUnavailable, match=r"^SageMaker is unavailable"):
        throttled.create(request)


class Serving:
    """A client whose ``get_object`` returns ``data`` as a body read as it arrives."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def get_object(self, **_: Any) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.data)}


def test_storage_download_verified_hashes_while_copying_and_refuses_other_bytes() -> None:
    data = b"canonical parquet bytes" * 1000
    ref = ArtifactRef(bucket="b", key="k", sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    copy = io.BytesIO()
    assert Storage(cast(Any, Serving(data))).download_verified(ref, copy, chunk_bytes=100) == len(data)
    assert copy.getvalue() == data
    with pytest.raises(IntegrityError, match="does not match its recorded sha256"):
        Storage(cast(Any, Serving(data[:-1] + b"!"))).download_verified(ref, io.BytesIO())
    throttled = Storage(cast(Any, Answering(client_error("SlowDown", "GetObject", 503))))
    with pytest.raises(DependencyUnavailable, match=r"^S3 is unavailable"):
        throttled.download_verified(ref, io.BytesIO())


def test_processing_jobs_taken_name_refused_request_and_unknown_job() -> None:
    request = {"ProcessingJobName": "mlops-dev-proc-1"}
    taken = ProcessingJobs(cast(Any, Answering(client_error("ResourceInUse", "CreateProcessingJob"))))
    assert taken.create(request) is False
    unique = (
        "Job name must be unique within an AWS account and region, and a job with this name already exists"
    )
    taken_as_invalid = ProcessingJobs(
        cast(Any, Answering(client_error("ValidationException", "CreateProcessingJob", 400, unique)))
    )
    assert taken_as_invalid.create(request) is False
    message = "1 validation error detected: Value 'ml.bogus' at 'processingResources' failed"
    refused = ProcessingJobs(
        cast(Any, Answering(client_error("ValidationException", "CreateProcessingJob", 400, message)))
    )
    with pytest.raises(BadRequest) as error:
        refused.create(request)
    assert str(error.value) == f"SageMaker refused to create processing job mlops-dev-proc-1: {message}."
    unknown = ProcessingJobs(
        cast(Any, Answering(client_error("ValidationException", "DescribeProcessingJob")))
    )
    with pytest.raises(NotFound, match="no processing job mlops-dev-proc-1"):
        unknown.describe("mlops-dev-proc-1")
    throttled = ProcessingJobs(
        cast(Any, Answering(client_error("ThrottlingException", "CreateProcessingJob")))
    )
    with pytest.raises(DependencyUnavailable, match=r"^SageMaker is unavailable"):
        throttled.create(request)
    denied = ProcessingJobs(cast(Any, Answering(client_error("AccessDenied", "DescribeProcessingJob", 403))))
    with pytest.raises(ClientError):
        denied.describe("mlops-dev-proc-1")


def test_multipart_upload_s3_unavailable_is_a_domain_error() -> None:
    storage = Storage(cast(Any, Answering(client_error("SlowDown", "UploadPart", 503))))
    upload = MultipartUpload(storage, "b", "k", part_bytes=4)
    with pytest.raises(DependencyUnavailable, match=r"^S3 is unavailable"):
        upload.write(b"12345")
    with pytest.raises(DependencyUnavailable, match=r"^S3 is unavailable"):
        multipart.copy(storage, "b", "staging", ArtifactRef(bucket="b", key="k", sha256="0" * 64, size=1))
    with pytest.raises(DependencyUnavailable, match=r"^S3 is unavailable"):
        multipart.delete(storage, "b", "k")
