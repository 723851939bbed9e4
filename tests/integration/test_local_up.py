"""`mlops local up` as a user runs it: a process that says ready, serves, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_local_up_serves_and_stops_cleanly(tmp_path: Path) -> None:
    aws_port, api_port = _free_port(), _free_port()
    state = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops.cli.main", "local", "up", "--aws-port", str(aws_port),
         "--api-port", str(api_port), "--state-dir", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            if line.strip() == "ready":
                break
        assert "ready" in lines, "\n".join(lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/v2/health/ready", timeout=10) as response:
            assert response.status == 200
        with urllib.request.urlopen(
            f"http://127.0.0.1:{api_port}/models/nothing-here", timeout=10
        ) as response:
            raise AssertionError(f"expected 404, got {response.status}")
    except urllib.error.HTTPError as error:
        assert error.code == 404 and "error" in json.loads(error.read())
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, "\n".join(lines) + rest
    assert "stopped" in rest
    assert (state / "dynamodb" / "mlops-metadata.json").is_file()
