"""The Lambda Extensions API of an emulated execution environment, and the extensions it runs.

In AWS, Lambda starts each executable of a function's layers' ``extensions/`` folder, waits for them
to register, then runs the function's init; each invocation is announced to the extensions as an
``INVOKE`` event, and before reclaiming the environment Lambda sends ``SHUTDOWN`` and waits up to two
seconds. ``ExecutionEnvironment`` does the same for the embedded stack: it serves the API's
``register`` and ``event/next`` over HTTP on 127.0.0.1 (a free port), runs each extension's own
``run(runtime_api)`` (the code the layer's executable runs) in a thread of this process, so it reaches
the same moto the functions do, and delivers the events.
"""

from __future__ import annotations

import importlib
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mlops.definition.description import ExtensionSpec
from mlops.observability import logger

REGISTER_TIMEOUT_S = 10.0
SHUTDOWN_GRACE_S = 2.0  # what Lambda gives external extensions at shutdown


@dataclass
class _Registered:
    name: str
    events: set[str]
    queue: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    shut_down: threading.Event = field(default_factory=threading.Event)


class ExecutionEnvironment:
    """One emulated execution environment of a function: its Extensions API and extensions."""

    def __init__(self, function_name: str, function_arn: str = "") -> None:
        self.function_name = function_name
        self.function_arn = function_arn
        self._registered: dict[str, _Registered] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._serving = threading.Thread(
            target=self._server.serve_forever, name="extensions-api", daemon=True
        )
        self._serving.start()
        self.runtime_api = f"127.0.0.1:{self._server.server_address[1]}"

    # ---- the API ---------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        environment = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.endswith("/extension/register"):
                    name = self.headers.get("Lambda-Extension-Name", "")
                    identifier = environment._register(name, set(body.get("events", [])))
                    self._answer(
                        200,
                        {
                            "functionName": environment.function_name,
                            "functionVersion": "$LATEST",
                            "handler": "handler.handler",
                        },
                        {"Lambda-Extension-Identifier": identifier},
                    )
                elif self.path.endswith(("/extension/init/error", "/extension/exit/error")):
                    logger.error(
                        "An extension reported an error",
                        extra={
                            "path": self.path,
                            "type": self.headers.get("Lambda-Extension-Function-Error-Type"),
                        },
                    )
                    self._answer(202, {"status": "OK"})
                else:
                    self._answer(404, {"errorMessage": f"No route POST {self.path}"})

            def do_GET(self) -> None:
                identifier = self.headers.get("Lambda-Extension-Identifier", "")
                registered = environment._registered.get(identifier)
                if not self.path.endswith("/extension/event/next") or registered is None:
                    self._answer(403 if registered is None else 404, {"errorMessage": "Unknown extension"})
                    return
                event = registered.queue.get()
                self._answer(200, event)
                if event["eventType"] == "SHUTDOWN":
                    registered.shut_down.set()

        return Handler

    def _register(self, name: str, events: set[str]) -> str:
        identifier = str(uuid.uuid4())
        with self._lock:
            self._registered[identifier] = _Registered(name, events)
        return identifier

    # ---- the platform's side -------------------------------------------------------------------

    def registered(self) -> list[str]:
        """Names of the extensions registered so far."""
        with self._lock:
            return [r.name for r in self._registered.values()]

    def start(self, extensions: tuple[ExtensionSpec, ...]) -> None:
        """Start each extension and wait for it to register, as Lambda does before the function's init."""
        for spec in extensions:
            module = importlib.import_module(spec.module)
            entry: Callable[..., None] = module.run
            registered = threading.Event()

            def target(entry: Callable[..., None] = entry, registered: threading.Event = registered) -> None:
                try:
                    entry(self.runtime_api, on_registered=registered.set)
                except Exception:
                    logger.exception("An extension stopped with an error")

            thread = threading.Thread(target=target, name=f"extension-{spec.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
            if not registered.wait(REGISTER_TIMEOUT_S):
                raise RuntimeError(
                    f"Extension {spec.name} did not register within {REGISTER_TIMEOUT_S:.0f} s."
                )

    def invoke(self, request_id: str, timeout_s: float) -> None:
        """Announce an invocation to the extensions registered for ``INVOKE``."""
        event = {
            "eventType": "INVOKE",
            "deadlineMs": int((time.time() + timeout_s) * 1000),
            "requestId": request_id,
            "invokedFunctionArn": self.function_arn,
            "tracing": {"type": "X-Amzn-Trace-Id", "value": ""},
        }
        for registered in list(self._registered.values()):
            if "INVOKE" in registered.events:
                registered.queue.put(dict(event))

    def shutdown(self, reason: str = "spindown", grace_s: float = SHUTDOWN_GRACE_S) -> None:
        """``SHUTDOWN`` to every extension, then wait for them to finish (at most ``grace_s``)."""
        if self._closed:
            return
        self._closed = True
        deadline = time.time() + grace_s
        event = {"eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": int(deadline * 1000)}
        for registered in list(self._registered.values()):
            if "SHUTDOWN" in registered.events:
                registered.queue.put(dict(event))
        for registered in list(self._registered.values()):
            registered.shut_down.wait(max(deadline - time.time(), 0.0))
        for thread in self._threads:
            thread.join(max(deadline - time.time(), 0.0))
            if thread.is_alive():
                logger.warning(
                    "An extension did not finish within the shutdown grace",
                    extra={"extension_thread": thread.name},
                )
        self._server.shutdown()
        self._server.server_close()
