"""An extension that overruns Lambda's shutdown grace (for tests of the local Extensions API)."""

from __future__ import annotations

import time
from collections.abc import Callable

from mlops.serving.extension import ExtensionsApi

OVERRUN_S = 10.0


def run(runtime_api: str, on_registered: Callable[[], None] | None = None) -> None:
    api = ExtensionsApi(runtime_api)
    api.register("slow-extension")
    if on_registered is not None:
        on_registered()
    while api.next_event()["eventType"] != "SHUTDOWN":
        pass  # next_event blocks until Lambda's next event; only SHUTDOWN matters here
    time.sleep(OVERRUN_S)
