"""The drift report: a JSON document and a self-contained HTML page.

The page has no external scripts, stylesheets or fonts: every plot is an inline SVG drawn here from
the result's distributions (baseline vs current: an equal-width histogram for numeric features,
grouped bars for categorical ones). Drifted features come first, in red; the verdict, thresholds
and p-values are on the page.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from html import escape
from typing import Any

from pydantic import BaseModel, ConfigDict

from mlops.drift.evaluate import Distribution, DriftResult, FeatureDrift

REPORT_FORMAT = 1

BASELINE_COLOR = "#4C78A8"
CURRENT_COLOR = "#F58518"
DRIFT_COLOR = "#C0392B"
OK_COLOR = "#2E7D32"
NEUTRAL_COLOR = "#6B7280"

PLOT_WIDTH = 460
PLOT_HEIGHT = 200


class ReportContext(BaseModel):
    """What the report says about where the evaluation came from."""

    model_config = ConfigDict(frozen=True)

    model: str
    version: int
    evaluated_at: datetime
    window_start: datetime | None = None
    window_end: datetime | None = None
    capture_objects: int = 0
    malformed_records: int = 0
    other_version_records: int = 0
    outside_window_records: int = 0
    quality: dict[str, Any] | None = None


def report_document(result: DriftResult, context: ReportContext) -> dict[str, Any]:
    """The full JSON report: every statistic, the distributions plotted, the config used."""
    return {
        "format": REPORT_FORMAT,
        **context.model_dump(mode="json"),
        **result.model_dump(mode="json"),
    }


def report_json(result: DriftResult, context: ReportContext) -> bytes:
    return json.dumps(report_document(result, context), indent=1).encode("utf-8")


# ---- HTML ------------------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f5f6f8;color:#1f2933}
header{background:#fff;border-bottom:1px solid #e3e6ea;padding:18px 28px}
h1{font-size:22px;margin:0 0 6px}
h2{font-size:16px;margin:26px 28px 10px}
.badge{display:inline-block;padding:3px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px;
vertical-align:middle;margin-left:8px}
.meta{color:#52606d;font-size:13px;margin-top:4px}
.summary{display:flex;flex-wrap:wrap;gap:12px;margin-top:14px}
.stat{background:#f5f6f8;border-radius:6px;padding:8px 12px;font-size:13px}
.stat b{display:block;font-size:18px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(500px,1fr));gap:16px;padding:0 28px 28px}
.card{background:#fff;border:1px solid #e3e6ea;border-left:5px solid #2E7D32;border-radius:6px;padding:12px 14px}
.card.drift{border-left-color:#C0392B}
.card h3{font-size:15px;margin:0 0 6px}
.kind{color:#52606d;font-weight:400;font-size:12px;margin-left:6px}
table{border-collapse:collapse;font-size:12.5px;margin-top:6px;width:100%}
td,th{padding:3px 6px;text-align:left;border-bottom:1px solid #eef0f2}
th{color:#52606d;font-weight:600}
td.bad{color:#C0392B;font-weight:600}
.thresholds{margin:0 28px;background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:8px 14px;max-width:900px}
.legend{font-size:12px;color:#52606d}
svg.plot{width:100%;height:auto;max-width:640px;display:block}
.swatch{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;vertical-align:middle}
"""


def render_html(result: DriftResult, context: ReportContext) -> str:
    """A self-contained HTML page for one drift evaluation."""
    verdict_color = {"drift": DRIFT_COLOR, "no_drift": OK_COLOR}.get(result.verdict, NEUTRAL_COLOR)
    verdict_text = {"drift": "DRIFT", "no_drift": "NO DRIFT"}.get(result.verdict, "INSUFFICIENT DATA")
    ordered = sorted(result.features.values(), key=lambda f: (not f.drift, -f.severity, f.name))
    window = ""
    if context.window_start and context.window_end:
        window = f"window {_time(context.window_start)} to {_time(context.window_end)} · "
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Drift report: {escape(context.model)} v{context.version}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header>",
        f"<h1>Drift report: {escape(context.model)} v{context.version}"
        f'<span class="badge" style="background:{verdict_color}">{verdict_text}</span></h1>',
        f'<div class="meta">{window}evaluated {_time(context.evaluated_at)}</div>',
        '<div class="summary">',
        _stat("captured rows", f"{result.rows:,}", f"min {result.config.min_rows:,}"),
        _stat(
            "drifted features",
            f"{len(result.drifted_features)} of {len(result.features)}",
            f"drift from {result.required_drifted}",
        ),
        _stat("drift score", f"{result.score:.2f}", "drift at 1.00"),
    ]
    if result.prediction is not None:
        prediction = result.prediction
        parts.append(
            _stat(
                "predictions",
                "drift" if prediction.drift else "stable",
                f"{'KS' if prediction.test == 'ks' else 'JS distance'} {_num(prediction.statistic)}",
            )
        )
    if context.quality:
        parts.append(
            _stat(
                f"live {context.quality.get('metric', '')}",
                _num(context.quality.get("value")),
                f"{context.quality.get('labelled_rows', 0)} labelled rows",
            )
        )
    if context.malformed_records:
        parts.append(_stat("malformed records", str(context.malformed_records), "skipped"))
    parts.append("</div>")
    if result.verdict == "insufficient_data":
        parts.append(
            f'<p class="meta">Fewer than {result.config.min_rows:,} captured rows: no verdict. '
            "The statistics below are shown for information.</p>"
        )
    parts.append("</header>")
    parts.append(
        '<h2>Features <span class="legend">'
        f'<span class="swatch" style="background:{BASELINE_COLOR}"></span>training baseline'
        f'<span class="swatch" style="background:{CURRENT_COLOR}"></span>captured traffic</span></h2>'
    )
    parts.append('<div class="grid">')
    parts.extend(_card(feature) for feature in ordered)
    parts.append("</div>")
    if result.prediction is not None:
        parts.append("<h2>Predictions</h2>")
        parts.append(f'<div class="grid">{_card(result.prediction)}</div>')
    parts.append(_thresholds(result))
    parts.append("</body></html>")
    return "\n".join(parts)


def _stat(label: str, value: str, note: str) -> str:
    return f'<div class="stat">{escape(label)}<b>{escape(value)}</b>{escape(note)}</div>'


def _thresholds(result: DriftResult) -> str:
    config = result.config
    rows = [
        ("numeric", "Kolmogorov-Smirnov statistic ≥", _num(config.ks_statistic)),
        ("numeric", "and KS p-value <", _num(config.ks_pvalue) + " (per feature, see below)"),
        ("numeric", "or PSI ≥", _num(config.psi_threshold)),
        ("categorical", "Jensen-Shannon distance ≥", _num(config.js_threshold)),
        ("categorical", "and chi-squared p-value <", _num(config.categorical_pvalue) + " (per feature)"),
        ("dataset", "drifted share ≥", _num(config.drift_share)),
        ("dataset", "captured rows ≥", f"{config.min_rows:,}"),
    ]
    body = "".join(
        f"<tr><td>{escape(a)}</td><td>{escape(b)}</td><td>{escape(c)}</td></tr>" for a, b, c in rows
    )
    return (
        '<h2>Thresholds</h2><div class="thresholds"><table>'
        "<tr><th>scope</th><th>rule</th><th>value</th></tr>"
        f"{body}</table></div>"
    )


def _card(feature: FeatureDrift) -> str:
    css = "card drift" if feature.drift else "card"
    badge_color = DRIFT_COLOR if feature.drift else OK_COLOR
    badge = "DRIFT" if feature.drift else "OK"
    effect_bad = feature.statistic is not None and feature.statistic >= feature.threshold
    p_bad = feature.p_value is not None and feature.p_value < feature.p_value_threshold
    rows = [
        (
            "Kolmogorov-Smirnov" if feature.test == "ks" else "Jensen-Shannon distance",
            _num(feature.statistic),
            f"≥ {_num(feature.threshold)}",
            effect_bad,
        ),
        (
            "KS p-value" if feature.p_value_test == "ks" else "chi-squared p-value",
            _num(feature.p_value),
            f"< {_num(feature.p_value_threshold)}",
            p_bad,
        ),
    ]
    if feature.psi is not None and feature.psi_threshold is not None:
        rows.append(
            (
                "PSI",
                _num(feature.psi),
                f"≥ {_num(feature.psi_threshold)}",
                feature.psi >= feature.psi_threshold,
            )
        )
    rows.append(
        ("missing", f"{feature.missing_rate:.1%}", f"training {feature.baseline_missing_rate:.1%}", False)
    )
    if feature.kind == "categorical":
        shown = ", ".join(feature.new_category_values)
        rows.append(("new categories", f"{feature.new_categories:,} rows", shown, feature.new_categories > 0))
    table = "".join(
        f'<tr><td>{escape(name)}</td><td class="{"bad" if bad else ""}">{escape(value)}</td>'
        f"<td>{escape(rule)}</td></tr>"
        for name, value, rule, bad in rows
    )
    return (
        f'<div class="{css}" data-feature="{escape(feature.name, quote=True)}">'
        f'<h3>{escape(feature.name)}<span class="kind">{feature.kind} · {feature.rows:,} values</span>'
        f'<span class="badge" style="background:{badge_color}">{badge}</span></h3>'
        f"{plot_svg(feature.distribution)}"
        f"<table><tr><th>test</th><th>value</th><th>drift when</th></tr>{table}</table></div>"
    )


def _num(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) < 1e-3 or abs(value) >= 1e5:
            return f"{value:.2e}"
        return f"{value:.4g}"
    return str(value)


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


# ---- SVG plots -------------------------------------------------------------------------------

_MARGIN_LEFT = 44
_MARGIN_RIGHT = 10
_MARGIN_TOP = 10
_LABEL = "Share of values: training baseline against captured traffic"


def plot_svg(distribution: Distribution) -> str:
    """One inline SVG plot: histogram (numeric) or grouped bars (categorical)."""
    if distribution.kind == "histogram":
        return _histogram_svg(distribution)
    return _bars_svg(distribution)


def _frame(height: int, plot_height: int, top_value: float, label: str) -> list[str]:
    inner = PLOT_WIDTH - _MARGIN_LEFT - _MARGIN_RIGHT
    base_y = _MARGIN_TOP + plot_height
    out = [
        f'<svg class="plot" viewBox="0 0 {PLOT_WIDTH} {height}" role="img" aria-label="{escape(label, quote=True)}" '
        'font-size="10" fill="#52606d">'
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = base_y - fraction * plot_height
        out.append(
            f'<line x1="{_MARGIN_LEFT}" y1="{y:.1f}" x2="{_MARGIN_LEFT + inner}" y2="{y:.1f}" '
            f'stroke="#e3e6ea" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{_MARGIN_LEFT - 4}" y="{y + 3:.1f}" text-anchor="end">{percent(top_value * fraction)}</text>'
        )
    return out


_NICE_TOPS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0)


def nice_top(values: list[float]) -> float:
    peak = max([*values, 1e-9])
    return next((top for top in _NICE_TOPS if peak <= top), 1.0)


def percent(value: float) -> str:
    percent = value * 100
    return f"{percent:.0f}%" if abs(percent - round(percent)) < 1e-9 else f"{percent:.1f}%"


def _histogram_svg(distribution: Distribution) -> str:
    plot_height = PLOT_HEIGHT - _MARGIN_TOP - 28
    inner = PLOT_WIDTH - _MARGIN_LEFT - _MARGIN_RIGHT
    top = nice_top([*distribution.baseline, *distribution.current])
    base_y = _MARGIN_TOP + plot_height
    count = len(distribution.baseline)
    width = inner / max(count, 1)
    out = _frame(PLOT_HEIGHT, plot_height, top, _LABEL)
    for i, share in enumerate(distribution.baseline):
        height = min(share / top, 1.0) * plot_height
        x = _MARGIN_LEFT + i * width
        out.append(
            f'<rect x="{x + 0.5:.1f}" y="{base_y - height:.1f}" width="{max(width - 1, 0.5):.1f}" '
            f'height="{height:.1f}" fill="{BASELINE_COLOR}" fill-opacity="0.55"/>'
        )
    points = []
    for i, share in enumerate(distribution.current):
        y = base_y - min(share / top, 1.0) * plot_height
        points.append(f"{_MARGIN_LEFT + i * width:.1f},{y:.1f}")
        points.append(f"{_MARGIN_LEFT + (i + 1) * width:.1f},{y:.1f}")
    if points:
        out.append(
            f'<polyline points="{_MARGIN_LEFT:.1f},{base_y:.1f} {" ".join(points)} '
            f'{_MARGIN_LEFT + count * width:.1f},{base_y:.1f}" fill="none" stroke="{CURRENT_COLOR}" '
            f'stroke-width="2"/>'
        )
    edges = distribution.edges
    if len(edges) >= 2:
        for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
            value = edges[0] + fraction * (edges[-1] - edges[0])
            x = _MARGIN_LEFT + fraction * inner
            anchor = "start" if fraction == 0 else "end" if fraction == 1 else "middle"
            label = axis_label(value, edges[-1] - edges[0])
            out.append(f'<text x="{x:.1f}" y="{base_y + 14:.1f}" text-anchor="{anchor}">{label}</text>')
    out.append("</svg>")
    return "".join(out)


def axis_label(value: float, span: float) -> str:
    """An axis label with as many decimals as the plotted span needs."""
    if abs(value) >= 1e6:
        return f"{value:.2e}"
    decimals = min(max(2 - math.floor(math.log10(span)), 0), 6) if span > 0 else 2
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _bars_svg(distribution: Distribution) -> str:
    label_space = 54
    plot_height = PLOT_HEIGHT - _MARGIN_TOP - label_space
    inner = PLOT_WIDTH - _MARGIN_LEFT - _MARGIN_RIGHT
    top = nice_top([*distribution.baseline, *distribution.current])
    base_y = _MARGIN_TOP + plot_height
    count = max(len(distribution.labels), 1)
    group = inner / count
    bar = max(min(group * 0.38, 28.0), 1.0)
    out = _frame(PLOT_HEIGHT, plot_height, top, _LABEL)
    for i, label in enumerate(distribution.labels):
        center = _MARGIN_LEFT + (i + 0.5) * group
        for offset, share, color in (
            (-bar, distribution.baseline[i], BASELINE_COLOR),
            (0.0, distribution.current[i], CURRENT_COLOR),
        ):
            height = min(share / top, 1.0) * plot_height
            out.append(
                f'<rect x="{center + offset:.1f}" y="{base_y - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{color}"/>'
            )
        text = label if len(label) <= 12 else label[:11] + "…"
        out.append(
            f'<text transform="translate({center:.1f},{base_y + 10:.1f}) rotate(-35)" text-anchor="end">'
            f"{escape(text)}</text>"
        )
    out.append("</svg>")
    return "".join(out)
