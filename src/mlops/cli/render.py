"""Plain-text rendering for the CLI: tables, key/value blocks, trees, durations. No dependencies."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

Record = TypeVar("Record")


def to_json(document: Any) -> str:
    """The one JSON document a ``--json`` command prints (datetimes as ISO 8601)."""
    return json.dumps(document, indent=2, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def listing(
    records: Sequence[Record],
    as_json: bool,
    json_row: Callable[[Record], object],
    headers: Sequence[str],
    table_row: Callable[[Record], Sequence[object]],
    empty: str,
) -> str:
    """What a ``list`` command prints: a JSON array of ``json_row`` (``--json``), else a table."""
    if as_json:
        return to_json([json_row(r) for r in records])
    return table(headers, [table_row(r) for r in records], empty=empty)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str = "(none)") -> str:
    """Left-aligned columns separated by two spaces; ``empty`` when there are no rows."""
    cells = [[cell(v) for v in row] for row in rows]
    if not cells:
        return empty
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    lines = [_line(headers, widths)]
    lines.extend(_line(row, widths) for row in cells)
    return "\n".join(lines)


def _line(values: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()


def fields(pairs: Iterable[tuple[str, object]], indent: str = "  ") -> str:
    """``key   value`` lines, keys padded to one width; pairs whose value is None are left out."""
    kept = [(k, cell(v)) for k, v in pairs if v is not None]
    if not kept:
        return ""
    width = max(len(k) for k, _ in kept)
    return "\n".join(f"{indent}{k.ljust(width)}  {v}".rstrip() for k, v in kept)


def cell(value: object) -> str:
    """One value as a table cell: '-' for nothing, yes/no for booleans, short timestamps."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, float):
        return number(value)
    return str(value)


def timestamp(value: datetime | str | None) -> str:
    """``2025-03-01 12:00:05 UTC`` (records are kept in UTC; ISO strings are accepted too)."""
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def duration(seconds: float | None) -> str:
    """0.4s, 12.3s, 4m05s, 1h02m."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def number(value: float) -> str:
    """Four significant decimals for metrics, without trailing noise."""
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e6 else f"{value:.4f}".rstrip("0")


def metrics(values: dict[str, float], limit: int = 4) -> str:
    """``f1_macro 0.9412, accuracy 0.95`` (at most ``limit`` metrics, in their stored order)."""
    items = list(values.items())[:limit]
    text = ", ".join(f"{k} {number(float(v))}" for k, v in items)
    return text + (", ..." if len(values) > limit else "")


def short_sha(sha: str | None, length: int = 12) -> str:
    return sha[:length] if sha else "-"


def size(num_bytes: int) -> str:
    value = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


@dataclass
class Node:
    """A tree node: a label, optional detail lines under it, and children."""

    label: str
    details: list[str] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)

    def add(self, label: str, details: Iterable[str] = ()) -> Node:
        child = Node(label, list(details))
        self.children.append(child)
        return child


def tree(root: Node) -> str:
    lines = [root.label, *(f"  {d}" for d in root.details)]
    lines.extend(_subtree(root.children, ""))
    return "\n".join(lines)


def _subtree(children: list[Node], prefix: str) -> list[str]:
    lines: list[str] = []
    for i, child in enumerate(children):
        last = i == len(children) - 1
        lines.append(f"{prefix}{'└─ ' if last else '├─ '}{child.label}")
        inner = prefix + ("   " if last else "│  ")
        lines.extend(f"{inner}{'   ' if not child.children else '│  '}{d}".rstrip() for d in child.details)
        lines.extend(_subtree(child.children, inner))
    return lines
