"""``mlops local up``: the whole stack on one machine.

moto serves the AWS APIs on --aws-port with the stack's resources in it; the functions run in this
process; the inference API is served on --api-port; schedules fire and alarms evaluate every few
seconds; state is kept under --state-dir.
"""

from __future__ import annotations

import logging
import os
import signal
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops import aws
from mlops.definition import description as d
from mlops.definition import outputs as out
from mlops.local import patches
from mlops.local.eventbus import EventBus
from mlops.local.persistence import Snapshotter, StateStore
from mlops.local.resources import REGION, LocalStack, create_stack, function_arn, physical_name, process_env
from mlops.local.runtime import FunctionRuntime
from mlops.observability import logger
from mlops.registry import Registry
from mlops.rollout_starter import StepFunctionsStarter, resume_rollouts

ALARM_INTERVAL_S = 5.0


def configure_moto(execute_state_machines: bool = True) -> None:
    """Execute state machines with moto's ASL interpreter; never try Docker for Lambda."""
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"] = {"execute_state_machine": execute_state_machines}
    default_user_config["lambda"] = {"use_docker": False}


def configure_environment(
    aws_endpoint: str | None, aws_port: int | None = None, capture_spool: Path | None = None
) -> None:
    """Credentials and endpoint for in-process clients, and every function's variables.

    The capture spool (``/tmp`` in Lambda, one per execution environment) is ``capture_spool``, or a
    fresh temporary directory: never one that another embedded stack on this machine writes.
    """
    spool = capture_spool or Path(tempfile.mkdtemp(prefix="mlops-capture-"))
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            **process_env(),
            "CAPTURE_SPOOL_DIR": str(spool),
        }
    )
    if aws_endpoint:
        os.environ["AWS_ENDPOINT_URL"] = aws_endpoint
    if aws_port:
        os.environ["MOTO_PORT"] = str(aws_port)  # moto's ASL interpreter calls Lambda through it
    aws.reset_clients()


def new_runtime() -> FunctionRuntime:
    return FunctionRuntime({s.name: physical_name(s.name) for s in d.FUNCTIONS}, function_arn)


@dataclass
class EmbeddedStack:
    """The pieces of a running embedded stack (also what the integration tests drive)."""

    runtime: FunctionRuntime
    stack: LocalStack
    bus: EventBus

    def invoke_inference(self, event: dict[str, Any], context: Any = None) -> Any:
        return self.runtime.call(d.API_FUNCTION, event, context)


def start_embedded(
    api_url: str = "",
    state: StateStore | None = None,
    alarm_interval_s: float = ALARM_INTERVAL_S,
    wire: bool = True,
    execute_state_machines: bool = True,
) -> EmbeddedStack:
    """Create the resources in the moto the clients point at and route invocations to the handlers."""
    configure_moto(execute_state_machines)
    runtime = new_runtime()
    patches.install(runtime)
    stack = create_stack(api_url, before_wiring=state.restore if state else None, wire=wire)
    sweep_interrupted_runs(runtime)
    return EmbeddedStack(runtime=runtime, stack=stack, bus=EventBus(runtime, alarm_interval_s))


def sweep_interrupted_runs(runtime: FunctionRuntime) -> None:
    """No execution survives a restart: runs restored RUNNING end ABORTED now, not never."""
    outcome = runtime.invoke("reconcile", {"source": "sweep", "grace_s": 0})
    if outcome.failed:
        logger.warning("The startup sweep of interrupted runs failed", extra={"error": outcome.payload})


def _wait_ready(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def run(
    host: str = "127.0.0.1",
    aws_port: int = 4566,
    api_port: int = 8080,
    state_dir: Path = Path(".mlops"),
    say: Callable[[str], None] = print,
) -> None:
    """Serve until SIGINT/SIGTERM, then stop cleanly, saving state."""
    from moto.server import ThreadedMotoServer

    from mlops.local.http_api import make_api_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    # Every function shares this process: OpenMP threads of concurrent training runs busy-wait against
    # each other (docs/performance.md, "Training pipeline"). One thread each, unless the user says.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    aws_url, api_url = f"http://{host}:{aws_port}", f"http://{host}:{api_port}"
    # The spool lives with the state: lines a stopped (or killed) stack left unsent ship at the next start.
    configure_environment(aws_url, aws_port, state_dir.resolve() / "capture-spool")
    server = ThreadedMotoServer(ip_address=host, port=aws_port, verbose=False)
    server.start()
    state = StateStore(
        state_dir.resolve(),
        buckets=[physical_name(b.name) for b in d.BUCKETS],
        tables=[physical_name(t.name) for t in d.TABLES],
    )
    embedded = start_embedded(api_url, state)
    # Every function's init phase (its imports: pandas, pyarrow, scikit-learn, skl2onnx, onnxruntime)
    # runs before `ready`, as provisioned concurrency runs it: not in the first upload's or request's path.
    embedded.runtime.initialize()
    # Executions do not survive a restart; the rollout and alias records do: check them again.
    resume_rollouts(
        Registry(embedded.stack.outputs[out.METADATA_TABLE]),
        StepFunctionsStarter(embedded.stack.outputs[out.ROLLOUT_STATE_MACHINE_ARN]),
    )
    api = make_api_server(
        host,
        api_port,
        embedded.invoke_inference,
        context_factory=lambda: embedded.runtime.context("inference"),
    )
    api_thread = threading.Thread(target=api.serve_forever, name="local-api", daemon=True)
    api_thread.start()
    embedded.bus.start()
    snapshots = Snapshotter(state)
    snapshots.start()

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        _wait_ready(f"{api_url}/v2/health/ready")
        say("ready")
        say(f"AWS endpoint:  {aws_url}   (export AWS_ENDPOINT_URL={aws_url})")
        say(f"Inference API: {api_url}")
        stop.wait()
    finally:
        say("stopping")
        embedded.bus.stop()
        with suppress(Exception):
            api.shutdown()
            api.server_close()
        embedded.runtime.shutdown()
        snapshots.stop()
        patches.uninstall()
        server.stop()
        say(f"stopped; state saved in {state.root}")
