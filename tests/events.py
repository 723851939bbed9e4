"""One loader for the real-shaped sample events under events/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[1] / "events"


def load_event(name: str) -> dict[str, Any]:
    """``load_event("ingest/s3_put")`` reads ``events/ingest/s3_put.json``."""
    path = EVENTS / (name if name.endswith(".json") else f"{name}.json")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
