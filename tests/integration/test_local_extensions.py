"""The embedded stack's Extensions API: events reach the registered extensions; one that overruns
the shutdown grace is logged and left behind, as Lambda would stop it, and the stack still stops."""

from __future__ import annotations

import time

import pytest

from mlops.definition.description import ExtensionSpec
from mlops.local.extensions import ExecutionEnvironment

SLOW = ExtensionSpec("slow-extension", layer="test", module="tests.integration.slow_extension")


def test_an_extension_overrunning_the_shutdown_grace_does_not_hold_the_stack(
    caplog: pytest.LogCaptureFixture,
) -> None:
    environment = ExecutionEnvironment("mlops-inference")
    environment.start((SLOW,))
    assert environment.registered() == ["slow-extension"]
    environment.invoke("request-1", 3.0)
    started = time.monotonic()
    environment.shutdown(grace_s=0.2)
    assert time.monotonic() - started < 5.0  # it did not wait for the extension's 10-second overrun
    assert "did not finish within the shutdown grace" in caplog.text
    environment.shutdown()  # a second shutdown is a no-op
