"""The Step Functions adapter: start a pipeline execution once, and read how one ended.

Step Functions' errors become the domain's: an execution name already taken is the execution started
earlier under it (names are the run ids), an unknown execution is None, a throttled, failing or
unreachable service is ``DependencyUnavailable``.
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


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives the execution ``name`` of the state machine."""
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


class Executions:
    def __init__(self, client: SFNClient | None = None) -> None:
        self._client = client

    @property
    def sfn(self) -> SFNClient:
        return self._client or aws.stepfunctions()

    def start(self, state_machine_arn: str, name: str, document: str) -> str:
        """Start the execution ``name`` with the input ``document``; its ARN. An execution already
        started under the name is that one (a redelivered event), and nothing new starts."""
        try:
            with aws.unavailable_as("Step Functions"):
                out = self.sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=document)
        except Exception as error:
            if aws.error_code(error) != "ExecutionAlreadyExists":
                raise
            return execution_arn(state_machine_arn, name)
        return out["executionArn"]

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
def default_executions() -> Executions:
    """One adapter per process over the cached client factory's Step Functions client."""
    return Executions()
