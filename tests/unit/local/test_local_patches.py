"""What the embedded stack changes in moto, and that it undoes it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from moto import backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from mlops.local import patches
from mlops.local.runtime import FunctionRuntime


def test_moto_s_server_routes_without_listing_its_package_on_every_request(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    listed = list(backends.list_of_moto_modules())
    assert "s3" in listed and "dynamodb" in listed
    patches.install(FunctionRuntime({}, str, root=tmp_path, specs=()))
    try:

        def no_listing(path: object) -> list[str]:
            raise AssertionError(f"listed {path} while routing a request")

        monkeypatch.setattr(os, "listdir", no_listing)
        assert list(backends.list_of_moto_modules()) == listed
        app = DomainDispatcherApplication(create_backend_app)
        assert app.get_backend_for_host("s3") == "s3"
        assert app.get_backend_for_host("dynamodb") == "dynamodb"
        monkeypatch.undo()
    finally:
        patches.uninstall()
    assert list(backends.list_of_moto_modules()) == listed
    with monkeypatch.context() as undone:
        undone.setattr(os, "listdir", lambda path: [])
        assert list(backends.list_of_moto_modules()) == []  # moto's own again: it lists on each call
