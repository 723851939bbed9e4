"""The unit tier runs with the network blocked: every test here (and the fixtures it starts) gets a
socket guard, so a test that reaches for TCP fails at once instead of quietly depending on a server.
In-process moto (``mock_aws``) answers boto3 without a socket; Unix sockets stay allowed for the
standard library's own plumbing (subprocess, multiprocessing, asyncio's self-pipe)."""

from __future__ import annotations

import pytest
from pytest_socket import disable_socket


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # A runtest hook in this conftest applies only to the items under this directory; pytest-socket
    # lifts the guard again at each test's teardown. tryfirst: before fixtures (session ones too).
    disable_socket(allow_unix_socket=True)


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials in the environment, as moto's guide advises: without them botocore's provider chain
    asks the instance metadata service, which is the network (and a second's timeout per client)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
