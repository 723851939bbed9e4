"""A background thread that runs one step every few seconds until stopped: the embedded stack's event
bus and its state snapshots."""

from __future__ import annotations

import threading
from collections.abc import Callable

from mlops.observability import logger


class Periodic:
    """Runs ``step`` every ``interval_s`` seconds on a daemon thread; a failed step is logged and the
    next one runs on time."""

    def __init__(
        self, name: str, step: Callable[[], object], interval_s: float, what: str, join_timeout_s: float
    ) -> None:
        self.name = name
        self.step = step
        self.interval_s = interval_s
        self.what = what
        self.join_timeout_s = join_timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.step()
            except Exception:
                logger.exception("%s failed", self.what)

    def stop(self) -> None:
        """Stop after the step in progress, if any (waiting at most ``join_timeout_s``)."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.join_timeout_s)
