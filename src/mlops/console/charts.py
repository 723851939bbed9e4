"""Inline SVG charts for the console: no script, no library, readable without colour.

Each chart is one ``<svg role="img">`` with an ``aria-label`` and ``<title>`` saying what it shows;
every mark has its own ``<title>`` (the value on hover), and the page shows the same numbers in a
table nearby. Colours and the axis-label helpers are the drift report's (``mlops.drift.report``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from mlops.cli import render
from mlops.console.html import Html, attr, h
from mlops.drift.report import BASELINE_COLOR, CURRENT_COLOR, DRIFT_COLOR, OK_COLOR, axis_label, percent

INK = "#1f2933"
MUTED = "#4b5563"
GRID = "#e3e6ea"
STAGE_COLORS = {
    "ingest": "#4C78A8",
    "validation": "#72B7B2",
    "training": "#54A24B",
    "conversion": "#B8860B",
    "promotion": "#B279A2",
}
SERIES_COLORS = (BASELINE_COLOR, CURRENT_COLOR, "#54A24B", "#B279A2", "#72B7B2", "#9D755D")
_FONT = 'font-family="inherit" font-size="11"'


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that is at least ``value``."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power: float = 10 ** math.floor(math.log10(value))  # an int above 1, a float below
    return next(m * power for m in (1, 2, 2.5, 5, 10) if value <= m * power * (1 + 1e-9))


def _open(width: int, height: int, label: str, links: bool = False) -> str:
    """The chart's root: an image, or a labelled group when it holds links (an image's content is
    presentational, so links inside one would be hidden from assistive technology)."""
    role = "group" if links else "img"
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="{role}" '
        f'aria-label="{attr(label)}" {_FONT} fill="{INK}"><title>{h(label)}</title>'
    )


def _text(x: float, y: float, text: object, anchor: str = "start", fill: str = MUTED) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}">{h(text)}</text>'


def _legend(entries: Sequence[tuple[str, str]], x: float, y: float) -> str:
    parts, offset = [], x
    for name, color in entries:
        parts.append(f'<rect x="{offset:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{color}"/>')
        parts.append(_text(offset + 14, y, name, fill=INK))
        offset += 22 + 7 * len(name)
    return "".join(parts)


# ---- Gantt ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    name: str
    start_s: float
    end_s: float
    status: str

    @property
    def failed(self) -> bool:
        return self.status == "FAILED"


@dataclass(frozen=True)
class GanttRow:
    label: str
    href: str | None
    bars: list[Bar]
    note: str = ""


def gantt(rows: Sequence[GanttRow], label: str, width: int = 860) -> Html:
    """Stages as bars on a shared seconds axis, one row per run (or per stage); failed bars in red."""
    left, right, top, row_h = 190, 16, 34, 24
    height = top + row_h * max(len(rows), 1) + 26
    span = nice_ceiling(max([b.end_s for r in rows for b in r.bars] + [1.0]))
    inner = width - left - right
    out = [_open(width, height, label, links=any(r.href for r in rows))]
    out.append(_legend([(n, c) for n, c in STAGE_COLORS.items()] + [("failed", DRIFT_COLOR)], left, 14))
    for i in range(5):
        x = left + inner * i / 4
        out.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 22}" stroke="{GRID}"/>')
        out.append(_text(x, height - 8, render.duration(span * i / 4), "middle"))
    for index, row in enumerate(rows):
        y = top + index * row_h
        name = h(row.label)
        text = f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" fill="{INK}">{name}</text>'
        out.append(f'<a href="{attr(row.href)}">{text}</a>' if row.href else text)
        for bar in row.bars:
            x = left + inner * bar.start_s / span
            w = max(inner * (bar.end_s - bar.start_s) / span, 2.0)
            color = DRIFT_COLOR if bar.failed else STAGE_COLORS.get(bar.name, MUTED)
            took = render.duration(bar.end_s - bar.start_s)
            out.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{color}">'
                f"<title>{h(f'{bar.name}: {bar.status}, {took}')}</title></rect>"
            )
        if row.note:
            end = max([b.end_s for b in row.bars] + [0.0])
            out.append(_text(left + inner * end / span + 6, y + 15, row.note, fill=DRIFT_COLOR))
    out.append("</svg>")
    return Html("".join(out))


# ---- lines ------------------------------------------------------------------------------------


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]] = field(default_factory=list)
    flagged: list[bool] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def time_axis(span_s: float) -> Callable[[float], str]:
    """Axis labels for times (UTC) as precise as a span of ``span_s`` seconds needs."""
    pattern = "%H:%M:%S" if span_s < 3600 else "%m-%d %H:%M" if span_s < 3 * 86400 else "%Y-%m-%d"
    return lambda value: datetime.fromtimestamp(value, UTC).strftime(pattern)


def moment(value: float) -> str:
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def version_axis(value: float) -> str:
    """``v3`` on whole versions; nothing between them (an axis tick may fall there)."""
    return f"v{round(value)}" if abs(value - round(value)) < 1e-6 else ""


def line_chart(
    series: Sequence[Series],
    label: str,
    x_kind: Literal["time", "version"],
    y_format: Callable[[float], str] = render.number,
    threshold: float | None = None,
    step: bool = False,
    y_floor: float | None = 0.0,
    width: int = 640,
    height: int = 220,
) -> Html:
    """Lines through points (``step``: a value holds until the next point); flagged points in red."""
    left, right, top, bottom = 56, 16, 26, 30
    xs = [x for s in series for x, _ in s.points] or [0.0]
    ys = [y for s in series for _, y in s.points] + ([threshold] if threshold is not None else [])
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    # x is seconds since the epoch ("time") or a version number ("version").
    x_format = time_axis(x1 - x0) if x_kind == "time" else version_axis
    tip_format = moment if x_kind == "time" else version_axis
    low = y_floor if y_floor is not None else min(ys or [0.0])
    high = max(ys or [1.0])
    if y_floor is not None:
        high = nice_ceiling(high) if high > 0 else 1.0
    elif high == low:
        low, high = low - 1, high + 1
    inner_w, inner_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + inner_w * (x - x0) / (x1 - x0)

    def py(y: float) -> float:
        return top + inner_h * (1 - (y - low) / (high - low))

    out = [_open(width, height, label)]
    if len(series) > 1:
        out.append(
            _legend([(s.name, SERIES_COLORS[i % len(SERIES_COLORS)]) for i, s in enumerate(series)], left, 14)
        )
    for i in range(3):
        value = low + (high - low) * i / 2
        out.append(
            f'<line x1="{left}" y1="{py(value):.1f}" x2="{width - right}" y2="{py(value):.1f}" stroke="{GRID}"/>'
        )
        out.append(_text(left - 6, py(value) + 4, y_format(value), "end"))
    ticks = (
        sorted({round(x) for x in xs})
        if x_kind == "version" and len(set(xs)) <= 12
        else [x0 + (x1 - x0) * i / 3 for i in range(4)]
    )
    for x in ticks:
        anchor = (
            "start"
            if x == ticks[0] and len(ticks) > 1
            else "end"
            if x == ticks[-1] and len(ticks) > 1
            else "middle"
        )
        out.append(_text(px(x), height - 10, x_format(x), anchor))
    if threshold is not None:
        out.append(
            f'<line x1="{left}" y1="{py(threshold):.1f}" x2="{width - right}" y2="{py(threshold):.1f}" '
            f'stroke="{DRIFT_COLOR}" stroke-dasharray="5 4"><title>threshold {h(y_format(threshold))}</title></line>'
        )
    for index, one in enumerate(series):
        color = SERIES_COLORS[index % len(SERIES_COLORS)]
        coords: list[str] = []
        for i, (x, y) in enumerate(one.points):
            if step and i:
                coords.append(f"{px(x):.1f},{py(one.points[i - 1][1]):.1f}")
            coords.append(f"{px(x):.1f},{py(y):.1f}")
        if step and one.points:
            coords.append(f"{width - right:.1f},{py(one.points[-1][1]):.1f}")
        if len(coords) > 1:
            out.append(
                f'<polyline points="{" ".join(coords)}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
        for i, (x, y) in enumerate(one.points):
            flagged = i < len(one.flagged) and one.flagged[i]
            note = one.notes[i] if i < len(one.notes) else ""
            tip = f"{one.name} {tip_format(x)}: {y_format(y)}" + (f" ({note})" if note else "")
            out.append(
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="{5 if flagged else 3.5}" '
                f'fill="{DRIFT_COLOR if flagged else color}"><title>{h(tip)}</title></circle>'
            )
    out.append("</svg>")
    return Html("".join(out))


# ---- dataset profile --------------------------------------------------------------------------

_QUANTILES = (
    ("min", 0.0),
    ("p01", 0.01),
    ("p05", 0.05),
    ("p25", 0.25),
    ("p50", 0.5),
    ("p75", 0.75),
    ("p95", 0.95),
    ("p99", 0.99),
    ("max", 1.0),
)


def quantile_histogram(
    column: str, stats: dict[str, Any], width: int = 300, height: int = 120
) -> Html | None:
    """A numeric column's distribution from its profile's quantiles: each bin holds the share of rows
    between two quantiles (1%, 4%, 20%, 25%, ...), drawn as density so wide bins are low."""
    quantiles = stats.get("quantiles") or {}
    known = {"min": stats.get("min"), "max": stats.get("max"), **quantiles}
    edges: list[tuple[float, float]] = [
        (float(known[k]), q) for k, q in _QUANTILES if known.get(k) is not None
    ]
    bins = [(a, b, qb - qa) for (a, qa), (b, qb) in itertools.pairwise(edges) if b > a and qb > qa]
    if not bins:
        return None
    lo, hi = bins[0][0], bins[-1][1]
    left, right, top, bottom = 8, 8, 6, 22
    inner_w, inner_h = width - left - right, height - top - bottom
    peak = max(share / (b - a) for a, b, share in bins)
    out = [_open(width, height, f"Distribution of {column} (from its quantiles)")]
    for a, b, share in bins:
        x = left + inner_w * (a - lo) / (hi - lo)
        w = max(inner_w * (b - a) / (hi - lo), 1.0)
        bar_h = inner_h * (share / (b - a)) / peak
        out.append(
            f'<rect x="{x:.1f}" y="{top + inner_h - bar_h:.1f}" width="{w:.1f}" height="{bar_h:.1f}" '
            f'fill="{BASELINE_COLOR}" stroke="#fff" stroke-width="0.5">'
            f"<title>{h(f'{percent(share)} of rows between {render.number(a)} and {render.number(b)}')}</title></rect>"
        )
    out.append(_text(left, height - 6, axis_label(lo, hi - lo)))
    out.append(_text(width - right, height - 6, axis_label(hi, hi - lo), "end"))
    out.append("</svg>")
    return Html("".join(out))


def category_bars(column: str, stats: dict[str, Any], width: int = 300) -> Html | None:
    """The most frequent values of a column as horizontal bars (the rest as one 'other' bar)."""
    top = [(str(t["value"]), int(t["count"])) for t in (stats.get("top") or [])][:8]
    other = int(stats.get("other_count") or 0) + sum(int(t["count"]) for t in (stats.get("top") or [])[8:])
    if other:
        top.append(("(other)", other))
    if not top:
        return None
    total = sum(c for _, c in top) or 1
    row_h, label_w = 18, 110
    height = row_h * len(top) + 4
    peak = max(c for _, c in top)
    out = [_open(width, height, f"Most frequent values of {column}")]
    for i, (value, count) in enumerate(top):
        y = 2 + i * row_h
        shown = value if len(value) <= 16 else value[:15] + "…"
        w = max((width - label_w - 50) * count / peak, 1.0)
        out.append(_text(label_w - 6, y + 12, shown, "end", INK))
        out.append(
            f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row_h - 5}" fill="{BASELINE_COLOR}">'
            f"<title>{h(f'{value}: {count:,} rows')}</title></rect>"
        )
        out.append(
            _text(label_w + w + 4, y + 12, percent(count / total) if count / total >= 0.001 else "<0.1%")
        )
    out.append("</svg>")
    return Html("".join(out))


# ---- lineage ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    kind: str
    title: str
    detail: str = ""
    href: str | None = None
    tone: str = "plain"


_TONES = {"plain": ("#f8fafc", "#94a3b8"), "ok": ("#f0fdf4", OK_COLOR), "bad": ("#fef2f2", DRIFT_COLOR)}


def lineage_graph(chain: Sequence[Node], branches: Sequence[tuple[str, Sequence[Node]]], label: str) -> Html:
    """The chain (raw file ... model version) left to right, then the model's branches (artifacts,
    deployments, drift reports) stacked in a last column, an edge from the model to each."""
    node_w, node_h, gap_x, gap_y = 150, 46, 28, 10
    branch_w = 230
    rows = [(title, node) for title, nodes in branches for node in nodes] or []
    headers = len(branches)
    branch_height = sum(node_h + gap_y for _ in rows) + headers * 22
    height = max(node_h + 40, branch_height + 20)
    model_x = 5 + (len(chain) - 1) * (node_w + gap_x) + node_w
    bx = model_x + gap_x + 20
    width = bx + branch_w
    chain_y = (height - node_h) / 2
    out = [_open(width, height, label, links=True)]
    for i, node in enumerate(chain):
        x = 5 + i * (node_w + gap_x)
        if i:
            out.append(_arrow(x - gap_x, chain_y + node_h / 2, x, chain_y + node_h / 2))
        out.append(_box(node, x, chain_y, node_w, node_h))
    y = 10.0
    for title, nodes in branches:
        out.append(_text(bx, y + 12, title if nodes else f"{title}: none", fill=INK))
        y += 22
        for node in nodes:
            out.append(_arrow(model_x, chain_y + node_h / 2, bx, y + node_h / 2))
            out.append(_box(node, bx, y, branch_w - 10, node_h))
            y += node_h + gap_y
    out.append("</svg>")
    return Html("".join(out))


def _arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    return (
        f'<path d="M{x1:.1f},{y1:.1f} C{(x1 + x2) / 2:.1f},{y1:.1f} {(x1 + x2) / 2:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" '
        f'fill="none" stroke="#94a3b8" stroke-width="1.5"/>'
    )


def _box(node: Node, x: float, y: float, w: float, box_h: float) -> str:
    fill, stroke = _TONES.get(node.tone, _TONES["plain"])
    limit = int(w / 6.2)
    title = node.title if len(node.title) <= limit else node.title[: limit - 1] + "…"
    detail = node.detail if len(node.detail) <= limit + 4 else node.detail[: limit + 3] + "…"
    body = (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{box_h}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
        f'<text x="{x + 8:.1f}" y="{y + 14:.1f}" fill="{MUTED}" font-size="10">{h(node.kind)}</text>'
        f'<text x="{x + 8:.1f}" y="{y + 29:.1f}" fill="{INK}" font-weight="600">{h(title)}</text>'
        f'<text x="{x + 8:.1f}" y="{y + 41:.1f}" fill="{MUTED}" font-size="10">{h(detail)}</text>'
        f"<title>{h(f'{node.kind}: {node.title} {node.detail}'.strip())}</title>"
    )
    if node.href:
        return f'<a href="{attr(node.href)}" aria-label="{attr(f"{node.kind} {node.title}")}">{body}</a>'
    return f"<g>{body}</g>"
