"""A test's embedded stack takes its executions with it.

Before: moto runs each execution on a daemon thread that outlived the stack, so a rollout waiting out
its canary invoked the rollout function minutes later, against the next test's moto (where it raced
that test's DynamoDB transactions: the intermittent "dictionary changed size during iteration").
"""

from __future__ import annotations

import json
import threading

from mlops import aws
from tests.integration.conftest import embedded_stack


def test_leaving_the_stack_stops_its_running_executions() -> None:
    before = set(threading.enumerate())
    with embedded_stack(wire=False):
        sfn = aws.stepfunctions()
        machine = sfn.create_state_machine(
            name="waits",
            definition=json.dumps(
                {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}
            ),
            roleArn="arn:aws:iam::123456789012:role/waits",
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
        started = set(threading.enumerate()) - before
        assert started  # the execution's threads
    left = [thread.name for thread in started if thread.is_alive()]
    assert not left, left
