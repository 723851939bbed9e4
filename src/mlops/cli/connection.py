"""The stack the CLI talks to, found through its CloudFormation outputs (docs/deploy.md#stack-outputs).

The deployed stack and the embedded one (``mlops local up``) publish the same outputs; which one
answers depends only on the standard AWS settings (``AWS_ENDPOINT_URL`` for the embedded stack).
Outputs are read once per command.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TextIO

from botocore.exceptions import ClientError

from mlops import aws
from mlops.cli.errors import CliError
from mlops.definition import outputs as names
from mlops.registry import Registry


@dataclass(frozen=True)
class StackOutputs:
    stack: str
    values: dict[str, str]

    def require(self, output: str) -> str:
        value = self.values.get(output)
        if not value:
            raise CliError(f"Stack '{self.stack}' has no output {output}; redeploy it with this version.")
        return value

    @property
    def data_bucket(self) -> str:
        return self.require(names.DATA_BUCKET)

    @property
    def metadata_table(self) -> str:
        return self.require(names.METADATA_TABLE)

    @property
    def rollout_state_machine_arn(self) -> str:
        return self.require(names.ROLLOUT_STATE_MACHINE_ARN)

    @property
    def api_url(self) -> str | None:
        return self.values.get(names.API_URL) or None

    @property
    def api_key_id(self) -> str | None:
        return self.values.get(names.API_KEY_ID) or None

    def function_name(self, function: str) -> str:
        return self.require(names.function_output(function))


def missing_stack_message(stack: str) -> str:
    client = aws.client("cloudformation")
    url = str(client.meta.endpoint_url)
    if "amazonaws.com" in url:
        return (
            f"Stack '{stack}' not found in AWS region {client.meta.region_name}: deploy it, pass the right "
            "--stack, or export what `mlops local env` prints to use the embedded stack."
        )
    return f"Stack '{stack}' not found at {url}: pass the right --stack (the embedded stack is '{names.DEFAULT_STACK_NAME}')."


def read_outputs(stack: str) -> StackOutputs:
    try:
        described = aws.client("cloudformation").describe_stacks(StackName=stack)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code == "ValidationError" and "does not exist" in message:
            raise CliError(missing_stack_message(stack)) from error
        raise
    stacks = described.get("Stacks", [])
    if not stacks:
        raise CliError(missing_stack_message(stack))
    values = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", []) if "OutputKey" in o}
    return StackOutputs(stack=stack, values=values)


def _stderr() -> TextIO:
    return sys.stderr


def _stdout() -> TextIO:
    return sys.stdout


@dataclass
class Context:
    """What every command gets: the stack (resolved on first use), the output streams and the clock.

    Waiting commands take their sleep and clock from here so tests can drive them without waiting.
    """

    stack_name: str = names.DEFAULT_STACK_NAME
    out: TextIO = field(default_factory=_stdout)
    err: TextIO = field(default_factory=_stderr)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    poll_interval_s: float = 1.0

    @cached_property
    def outputs(self) -> StackOutputs:
        return read_outputs(self.stack_name)

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.outputs.metadata_table)

    def say(self, text: str = "") -> None:
        """A line of the command's result (stdout)."""
        print(text, file=self.out, flush=True)

    def note(self, text: str = "") -> None:
        """Progress or commentary (stderr), so stdout stays the result."""
        print(text, file=self.err, flush=True)

    def client(self, service: str) -> Any:
        return aws.client(service)
