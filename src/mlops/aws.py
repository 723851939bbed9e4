"""Cached boto3 client factory: the one place above the adapters that builds AWS clients.

Clients are built once per process (a Lambda cold start) and reused. ``AWS_ENDPOINT_URL`` is honoured
by botocore itself, which is how every command and function reaches the embedded stack. Tests call
``reset_clients()`` after starting moto so no client outlives its mock.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_firehose import FirehoseClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_stepfunctions import SFNClient

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)


@cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]


@cache
def blocking_client(service: str, read_timeout_s: int) -> Any:
    """For calls that block while work runs (a synchronous Lambda invoke): a read timeout longer than
    the work, and no retries, which would run the work again."""
    config = _CONFIG.merge(
        Config(read_timeout=read_timeout_s, retries={"mode": "standard", "total_max_attempts": 1})
    )
    return boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]


def reset_clients() -> None:
    client.cache_clear()
    blocking_client.cache_clear()


def s3() -> S3Client:
    return client("s3")


def dynamodb() -> DynamoDBClient:
    return client("dynamodb")


def stepfunctions() -> SFNClient:
    return client("stepfunctions")


def lambda_() -> LambdaClient:
    return client("lambda")


def firehose() -> FirehoseClient:
    return client("firehose")


def cloudwatch() -> CloudWatchClient:
    return client("cloudwatch")


def sagemaker() -> SageMakerClient:
    return client("sagemaker")


def caller_identity() -> str:
    """Who is asking: the ARN of the caller's AWS identity (recorded with a person's decisions)."""
    return str(client("sts").get_caller_identity()["Arn"])
