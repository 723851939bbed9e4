"""Integration fixtures: the embedded stack inside moto (in-process, no server), one per module.

``embedded`` creates every resource of the stack description in moto, routes Lambda invocations to
the real handlers and executes the real ASL with moto's interpreter, exactly as ``mlops local up``
does, minus the HTTP servers.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws

from mlops import aws
from mlops.cli.main import main
from mlops.definition import outputs as out
from mlops.entities import Run
from mlops.errors import NotFound
from mlops.local import patches
from mlops.local.embedded import EmbeddedStack, configure_environment, start_embedded
from mlops.local.persistence import StateStore
from mlops.registry import Registry
from mlops.settings import load_settings

MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


@contextmanager
def embedded_stack(
    state: StateStore | None = None,
    execute: bool = True,
    wire: bool = True,
    function_env: Mapping[str, str] | None = None,
) -> Iterator[EmbeddedStack]:
    """A fresh moto with the whole stack in it (restored from ``state`` when given); ``execute=False``
    records executions without running them, ``wire=False`` leaves out notifications and rules;
    ``function_env`` overrides the functions' variables (read at their cold start in this stack)."""
    saved = dict(os.environ)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    configure_environment(None)
    os.environ.update(function_env or {})
    load_settings.cache_clear()  # each stack's functions start cold, reading this environment
    config: Any = {**MOTO_CONFIG, "stepfunctions": {"execute_state_machine": execute}}
    try:
        with mock_aws(config=config):
            aws.reset_clients()
            stack = start_embedded(state=state, wire=wire, execute_state_machines=execute)
            try:
                yield stack
            finally:
                stop_executions()
                stack.runtime.shutdown()
                patches.uninstall()
    finally:
        aws.reset_clients()
        os.environ.clear()
        os.environ.update(saved)


def stop_executions(timeout_s: float = 60.0) -> None:
    """Stop every running execution and wait for it to end. moto runs each on a daemon thread that
    outlives the stack: a rollout waiting out its canary would otherwise invoke its functions later,
    against the next test's moto."""
    sfn = aws.stepfunctions()
    machines = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]]

    def running() -> list[str]:
        return [
            e["executionArn"]
            for arn in machines
            for page in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=arn, statusFilter="RUNNING"
            )
            for e in page["executions"]
        ]

    for arn in running():
        sfn.stop_execution(executionArn=arn, cause="The test's embedded stack is stopping.")
    deadline = time.monotonic() + timeout_s
    while running() and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedStack]:
    with embedded_stack() as stack:
        yield stack


@pytest.fixture(scope="module")
def registry(embedded: EmbeddedStack) -> Registry:
    return Registry(embedded.stack.outputs[out.METADATA_TABLE])


@pytest.fixture(scope="module")
def data_bucket(embedded: EmbeddedStack) -> str:
    return embedded.stack.outputs[out.DATA_BUCKET]


def wait_for(predicate: Callable[[], Any], timeout_s: float = 120.0, interval_s: float = 0.2) -> Any:
    """Poll until ``predicate`` returns something truthy; fail the test with a clear message if not."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout_s}s waiting for {predicate}")
        time.sleep(interval_s)


def wait_for_run(registry: Registry, run_id: str, timeout_s: float = 180.0) -> Run:
    def ended() -> Run | None:
        try:
            run = registry.runs.get_run(run_id)
        except NotFound:  # ingest names the run on the raw object a moment before it creates it
            return None
        return run if run.status != "RUNNING" else None

    result: Run = wait_for(ended, timeout_s)
    return result


@dataclass(frozen=True)
class Outcome:
    """What an ``mlops`` command did: its exit code, stdout and stderr."""

    code: int
    out: str
    err: str


def run_cli(*argv: str) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return Outcome(code, out.getvalue(), err.getvalue())
