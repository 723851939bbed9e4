"""The capture layer's executable is a real Lambda extension: it registers with the Extensions API,
waits for events, and exits on SHUTDOWN, as Lambda runs it from /opt/extensions."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from mlops.definition.description import EXTENSIONS, extensions_of, function, project_root
from mlops.local.extensions import ExecutionEnvironment
from mlops.serving import extension


def test_every_described_extension_is_an_executable_of_its_layer() -> None:
    for spec in EXTENSIONS:
        executable = project_root() / "layers" / spec.layer / "extensions" / spec.name
        assert executable.is_file() and os.access(executable, os.X_OK)
        assert f"from {spec.module} import main" in executable.read_text()
    assert extension.NAME in {spec.name for spec in extensions_of(function("inference"))}


def test_the_executable_registers_takes_events_and_exits_on_shutdown(tmp_path: Path) -> None:
    (spec,) = EXTENSIONS
    executable = project_root() / "layers" / spec.layer / "extensions" / spec.name
    environment = ExecutionEnvironment("mlops-inference")
    env = {
        **os.environ,
        "AWS_LAMBDA_RUNTIME_API": environment.runtime_api,
        "METADATA_TABLE": "mlops-metadata",
        "ARTIFACT_BUCKET": "mlops-artifacts",
        "CAPTURE_STREAM": "mlops-capture",
        "CAPTURE_SPOOL_DIR": str(tmp_path),
    }
    process = subprocess.Popen([sys.executable, str(executable)], env=env)
    try:
        deadline = time.monotonic() + 60
        while environment.registered() != [spec.name]:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        environment.invoke("request-1", 3.0)
        environment.shutdown(grace_s=10)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
