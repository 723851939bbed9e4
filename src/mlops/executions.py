"""The Step Functions adapter that starts executions: a pipeline run's, once.

Step Functions' errors become the domain's: an execution name already taken is the execution started
earlier under it (names are the run ids), a throttled, failing or unreachable service is
``DependencyUnavailable``. Reading an execution's state is ``mlops.execution_states``: a separate
module, since the functions that start runs may not read executions, and each function's code holds
only the calls its role allows.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from mlops import aws

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives the execution ``name`` of the state machine."""
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


class StepFunctionsExecutions:
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


@cache
def default_execution_starter() -> StepFunctionsExecutions:
    """One adapter per process over the cached client factory's Step Functions client."""
    return StepFunctionsExecutions()
