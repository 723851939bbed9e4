"""Cached AWS client factory: the one place above the adapters that builds AWS clients.

Clients are botocore's, built from one botocore session per process: boto3's client is the same object
plus its resource layer and s3transfer, which nothing here uses (the CLI's upload wraps its client in
s3transfer itself) and whose imports would lengthen the inference function's cold start
(docs/performance.md, "Figures behind design choices").
botocore's session and client machinery is imported when the first client is built, not when this
module is: a process that builds none (the inference function serving from memory, a test on fakes)
never pays for it, and the inference function's SnapStart hook builds its clients before the snapshot
(``mlops.serving.snapstart``). Clients are built once per process (a Lambda cold start) and reused. ``AWS_ENDPOINT_URL`` is honoured
by botocore itself, which is how every command and function reaches the embedded stack. Tests call
``reset_clients()`` after starting moto so no client outlives its mock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from mlops.errors import DependencyUnavailable

if TYPE_CHECKING:
    import botocore.session
    from botocore.config import Config
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_firehose import FirehoseClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_stepfunctions import SFNClient


@cache
def _session() -> botocore.session.Session:
    import botocore.session

    return botocore.session.get_session()


@cache
def _config() -> Config:
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)


_built: list[Any] = []


@cache
def client(service: str) -> Any:
    built = _session().create_client(service, config=_config())
    _built.append(built)
    return built


@cache
def blocking_client(service: str, read_timeout_s: int) -> Any:
    """For calls that block while work runs (a synchronous Lambda invoke): a read timeout longer than
    the work, and no retries, which would run the work again."""
    from botocore.config import Config

    config = _config().merge(
        Config(read_timeout=read_timeout_s, retries={"mode": "standard", "total_max_attempts": 1})
    )
    built = _session().create_client(service, config=config)
    _built.append(built)
    return built


def close_connections() -> None:
    """Drop every client's pooled connections (the clients stay usable and reconnect): after a
    SnapStart restore, connections opened before the snapshot are stale."""
    for built in list(_built):
        built.close()


def reset_clients() -> None:
    _built.clear()
    _session.cache_clear()
    client.cache_clear()
    blocking_client.cache_clear()


# Error codes of a throttled or failing service (its 5xx), which botocore's retries did not outlast.
UNAVAILABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
    }
)


def error_code(error: Exception) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``NoSuchKey``, ``ResourceInUse``), else None."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    return str(response.get("Error", {}).get("Code", "")) or None


def unavailable(error: Exception) -> bool:
    """Whether ``error`` says the service is throttling, failing (5xx) or unreachable, not that the
    request was wrong. botocore's exceptions are imported only once one was raised, so a process that
    never meets one never loads them."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(error, BotoCoreError):  # no answer: connection refused or reset, a timeout
        return True
    if not isinstance(error, ClientError):
        return False
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return error_code(error) in UNAVAILABLE_CODES or int(status) >= 500


@contextmanager
def unavailable_as(service: str) -> Iterator[None]:
    """Turn an unavailable-service error raised inside into ``DependencyUnavailable`` naming ``service``;
    every other error passes unchanged."""
    try:
        yield
    except Exception as error:
        if unavailable(error):
            raise DependencyUnavailable(
                f"{service} is unavailable ({error_code(error) or type(error).__name__}); retry shortly."
            ) from error
        raise


def s3() -> S3Client:
    return cast("S3Client", client("s3"))


def dynamodb() -> DynamoDBClient:
    return cast("DynamoDBClient", client("dynamodb"))


def stepfunctions() -> SFNClient:
    return cast("SFNClient", client("stepfunctions"))


def lambda_() -> LambdaClient:
    return cast("LambdaClient", client("lambda"))


def firehose() -> FirehoseClient:
    return cast("FirehoseClient", client("firehose"))


def cloudwatch() -> CloudWatchClient:
    return cast("CloudWatchClient", client("cloudwatch"))


def sagemaker() -> SageMakerClient:
    return cast("SageMakerClient", client("sagemaker"))


def caller_identity() -> str:
    """Who is asking: the ARN of the caller's AWS identity (recorded with a person's decisions)."""
    return str(client("sts").get_caller_identity()["Arn"])
