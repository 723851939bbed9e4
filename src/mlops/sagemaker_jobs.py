"""SageMaker's errors on creating and describing a job, as the domain's (``mlops.training_jobs``,
``mlops.processing_jobs``; each module makes only its own calls, so each function's role stays
narrow).

A job name already taken is not an error: ``create_job`` says so (``ResourceInUse``, or the
``ValidationException`` saying the name must be unique that ``CreateProcessingJob`` gives) and the
caller checks the job is its own. Any other request SageMaker refuses (a role it cannot assume, an
instance type it does not offer) is ``BadRequest`` with its reason; a job it does not know is
``NotFound``; a throttled, failing or unreachable service is ``DependencyUnavailable``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from mlops import aws
from mlops.errors import BadRequest, NotFound

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

Described = TypeVar("Described")

MESSAGE_CHARS = 400  # SageMaker lists every allowed value of an enum it refuses: hundreds of them
_NAME_TAKEN = ("must be unique", "already exists")


class SageMakerAdapter:
    """An adapter over one SageMaker client: the one a test passes in, else the cached factory's."""

    def __init__(self, client: SageMakerClient | None = None) -> None:
        self._client = client

    @property
    def sagemaker(self) -> SageMakerClient:
        return self._client or aws.sagemaker()


def error_message(error: Exception) -> str:
    """A service error's message without its final period, cut to ``MESSAGE_CHARS``."""
    response = getattr(error, "response", {})
    message = str(response.get("Error", {}).get("Message", "")).strip().rstrip(".") or str(error)
    return message if len(message) <= MESSAGE_CHARS else message[: MESSAGE_CHARS - 1] + "…"


def create_job(create: Callable[[], object], kind: str, name: str) -> bool:
    """Run ``create`` (a ``Create*Job`` call): True if it created job ``name``, False if the name is
    taken; ``kind`` ("training job") names it in errors."""
    try:
        with aws.unavailable_as("SageMaker"):
            create()
    except Exception as error:
        code = aws.error_code(error)
        if code == "ResourceInUse":
            return False
        if code == "ValidationException":
            message = error_message(error)
            if any(taken in message.lower() for taken in _NAME_TAKEN):
                return False
            raise BadRequest(f"SageMaker refused to create {kind} {name}: {message}.") from error
        raise
    return True


def describe_job(describe: Callable[[], Described], kind: str, name: str) -> Described:
    """Run ``describe`` (a ``Describe*Job`` call on ``name``); NotFound when SageMaker has no such job."""
    try:
        with aws.unavailable_as("SageMaker"):
            return describe()
    except Exception as error:
        # A Describe*Job call's one parameter is the name: its ValidationException is "not found".
        if aws.error_code(error) in {"ValidationException", "ResourceNotFound"}:
            raise NotFound(f"SageMaker has no {kind} {name}.") from error
        raise
