"""The capture extension: a Lambda extension that ships the capture spool to Firehose.

Lambda starts ``/opt/extensions/mlops-capture`` (the ``capture`` layer, ``layers/capture/``) in the
inference function's execution environment before the function's own init. It registers with the
Extensions API for ``INVOKE`` and ``SHUTDOWN`` events and then loops on ``event/next``:

- it ships what earlier invocations spooled (``mlops.serving.spool``) when the oldest unsent line is
  older than ``CAPTURE_FLUSH_INTERVAL_S`` (one ``PutRecordBatch`` for many requests' lines: Firehose
  bills each record rounded up to 5 KB, so packing requests together also costs less), on each
  ``INVOKE`` and on a timer while the environment runs (Lambda freezes it between invocations, so in
  AWS that is during an invocation; the embedded stack never freezes, so lines land within the
  interval);
- on ``SHUTDOWN`` (Lambda gives external extensions about two seconds) it ships everything left.

The function never waits for any of it: its response goes out while the extension works in its own
process. Records are packed exactly as before (``mlops.serving.capture_writer.pack``), so the stream, its
partitioning and the S3 layout drift reads are unchanged. A failed shipment is logged and counted
(``CaptureFailure``) and retried at the next flush: lines stay in the spool until Firehose accepted
them (at least once). The embedded stack runs this same loop against its own Extensions API
(``mlops.local.extensions``).

Registration comes first and uses only the standard library: Lambda starts the function's init once
every extension has registered, so the rest of this module's imports overlap the function's init.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

NAME = "mlops-capture"
EVENTS = ("INVOKE", "SHUTDOWN")
SHUTDOWN_MARGIN_S = 0.2  # stop retrying this long before Lambda's shutdown deadline

_log = logging.getLogger(__name__)


class ExtensionsApi:
    """A client of the Lambda Extensions API (``AWS_LAMBDA_RUNTIME_API``/2020-01-01/extension)."""

    def __init__(self, runtime_api: str) -> None:
        self.base = f"http://{runtime_api}/2020-01-01/extension"
        self.identifier = ""

    def _call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[dict[str, str], Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        if self.identifier:
            request.add_header("Lambda-Extension-Identifier", self.identifier)
        # No timeout: event/next blocks until the next event, however long the environment sleeps.
        with urllib.request.urlopen(request) as response:
            text = response.read()
            return dict(response.headers.items()), json.loads(text) if text else None

    def register(self, name: str = NAME, events: tuple[str, ...] = EVENTS) -> str:
        headers, _ = self._call(
            "POST", "/register", {"events": list(events)}, {"Lambda-Extension-Name": name}
        )
        self.identifier = headers.get("Lambda-Extension-Identifier", "")
        if not self.identifier:
            raise RuntimeError("The Extensions API registered the extension without an identifier.")
        return self.identifier

    def next_event(self) -> dict[str, Any]:
        _, event = self._call("GET", "/event/next")
        return dict(event)


class Shipper:
    """Sends the spool's lines to the capture stream, at most once per flush interval."""

    def __init__(
        self,
        spool_dir: str,
        send: Callable[[list[bytes]], None],
        flush_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from mlops.serving.spool import SpoolReader

        self.reader = SpoolReader(spool_dir)
        self.send = send
        self.interval = flush_interval_s
        self._clock = clock
        self._pending_since: float | None = None
        self._lock = threading.Lock()

    def due(self) -> bool:
        if self.reader.pending_bytes() <= 0:
            self._pending_since = None
            return False
        now = self._clock()
        if self._pending_since is None:
            self._pending_since = now
        return now - self._pending_since >= self.interval

    def ship(self) -> bool:
        """Send every complete line; False (logged and counted) when a shipment failed."""
        with self._lock:
            try:
                self.reader.drain(self.send)
            except Exception as error:
                report_failure(f"shipping the capture spool failed: {type(error).__name__}: {error}")
                return False
            finally:
                self._pending_since = None
            if self.reader.dropped:
                report_failure(f"{self.reader.dropped} capture line(s) too long for a Firehose record")
                self.reader.dropped = 0
            return True

    def ship_all(self, deadline: float) -> bool:
        """Ship until the spool is empty or ``deadline`` (this clock) passes."""
        while True:
            if self.ship() and self.reader.pending_bytes() <= 0:
                return True
            if self._clock() >= deadline:
                return False
            time.sleep(0.05)


def report_failure(reason: str) -> None:
    """Logged, and counted as ``CaptureFailure`` in a metric set of the extension's own: in the embedded
    stack it shares a process with the function, whose request metrics it must not flush."""
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    from mlops.observability import SERVICE, logger
    from mlops.observability import metrics as function_metrics
    from mlops.serving.telemetry import CAPTURE_FAILURE

    logger.warning("Could not capture a request", extra={"reason": reason, "extension": NAME})
    try:
        metrics = EphemeralMetrics(service=SERVICE, namespace=function_metrics.namespace)
        metrics.add_metric(name=CAPTURE_FAILURE, unit=MetricUnit.Count, value=1)
        metrics.flush_metrics()
    except Exception:  # metrics are best effort
        _log.warning("Could not record the capture extension's metric", exc_info=True)


def firehose_sender(stream: str) -> Callable[[list[bytes]], None]:
    from mlops.serving.capture_writer import FirehoseSink, pack

    sink = FirehoseSink(stream)
    return lambda lines: sink.put(pack(lines))


def run(
    runtime_api: str,
    send: Callable[[list[bytes]], None] | None = None,
    on_registered: Callable[[], None] | None = None,
) -> None:
    """The extension: register, then serve events until ``SHUTDOWN``."""
    api = ExtensionsApi(runtime_api)
    api.register()
    if on_registered is not None:
        on_registered()
    from mlops.function_settings import load_settings
    from mlops.serving.settings import InferenceSettings

    settings = load_settings(InferenceSettings)
    shipper = Shipper(
        settings.capture_spool_dir,
        send or firehose_sender(settings.capture_stream),
        settings.capture_flush_interval_s,
    )
    stop = threading.Event()

    def timer() -> None:
        while not stop.wait(max(settings.capture_flush_interval_s / 2, 0.05)):
            if shipper.due():
                shipper.ship()

    background = threading.Thread(target=timer, name="capture-flush", daemon=True)
    background.start()
    while True:
        event = api.next_event()
        if event.get("eventType") == "SHUTDOWN":
            stop.set()
            background.join()
            deadline_ms = event.get("deadlineMs")
            left_s = (deadline_ms / 1000 - time.time()) if deadline_ms else 2.0
            shipper.ship_all(time.monotonic() + max(left_s - SHUTDOWN_MARGIN_S, 0.0))
            return
        if shipper.due():
            shipper.ship()


def main() -> int:
    """The layer's executable (``extensions/mlops-capture``)."""
    run(os.environ["AWS_LAMBDA_RUNTIME_API"])
    return 0
