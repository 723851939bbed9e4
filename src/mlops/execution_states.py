"""The Step Functions adapter that reads how an execution stands (``mlops.executions`` starts them).

An unknown execution is None; a throttled, failing or unreachable service is ``DependencyUnavailable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

from mlops import aws

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


@dataclass(frozen=True)
class ExecutionState:
    status: Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]
    error: str | None = None
    cause: str | None = None


class StepFunctionsExecutionStates:
    def __init__(self, client: SFNClient | None = None) -> None:
        self._client = client

    @property
    def sfn(self) -> SFNClient:
        return self._client or aws.stepfunctions()

    def state(self, arn: str) -> ExecutionState | None:
        """How the execution stands, or None when Step Functions has no such execution."""
        try:
            with aws.unavailable_as("Step Functions"):
                out = self.sfn.describe_execution(executionArn=arn)
        except Exception as error:
            if aws.error_code(error) != "ExecutionDoesNotExist":
                raise
            return None
        return ExecutionState(status=out["status"], error=out.get("error"), cause=out.get("cause"))


@cache
def default_execution_states() -> StepFunctionsExecutionStates:
    """One adapter per process over the cached client factory's Step Functions client."""
    return StepFunctionsExecutionStates()
