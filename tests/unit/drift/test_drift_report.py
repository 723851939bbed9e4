"""The report: one plot per feature, drifted first, nothing fetched from anywhere."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import numpy as np

from mlops.config import DriftConfig
from mlops.drift.evaluate import DriftResult, evaluate
from mlops.drift.report import ReportContext, render_html, report_json
from tests.unit.drift.drift_testdata import CATEGORICAL, NUMERIC, baseline_of, make_columns, predictions

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CONTEXT = ReportContext(
    model="churn", version=4, evaluated_at=NOW, window_start=NOW - timedelta(hours=24), window_end=NOW
)


def _result(rows: int = 2000, shift: tuple[str, ...] = ("score", "plan", "visits")) -> DriftResult:
    rng = np.random.default_rng(0)
    baseline = baseline_of(make_columns(rng, 10_000), predictions(rng, 2000))
    return evaluate(baseline, make_columns(rng, rows, shift=shift), predictions(rng, rows), DriftConfig())


def test_html_has_one_plot_per_feature_and_the_prediction() -> None:
    result = _result()
    html = render_html(result, CONTEXT)
    assert html.count('<svg class="plot"') == len(NUMERIC + CATEGORICAL) + 1
    for name in NUMERIC + CATEGORICAL:
        assert f'data-feature="{name}"' in html
    assert "DRIFT" in html and "churn v4" in html


def test_html_is_self_contained() -> None:
    html = render_html(_result(), CONTEXT)
    assert not re.search(r"https?://", html)
    assert "<script" not in html and "<link" not in html and "src=" not in html and "@import" not in html


def test_drifted_features_come_first() -> None:
    result = _result()
    html = render_html(result, CONTEXT)
    order = re.findall(r'<div class="card( drift)?" data-feature="([^"]+)"', html)
    flags = [bool(drift) for drift, name in order if name != "prediction"]
    assert flags == sorted(flags, reverse=True)
    assert {name for drift, name in order if drift and name != "prediction"} == set(result.drifted_features)


def test_insufficient_data_is_said_so() -> None:
    html = render_html(_result(rows=50), CONTEXT)
    assert "INSUFFICIENT DATA" in html and "no verdict" in html


def test_names_are_escaped() -> None:
    rng = np.random.default_rng(1)
    baseline = baseline_of({"plan": rng.choice(["<b>x</b>", "a&b"], 500)})
    result = evaluate(baseline, {"plan": rng.choice(["<b>x</b>", "a&b"], 300)}, None, DriftConfig())
    html = render_html(result, CONTEXT)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_json_report_round_trips() -> None:
    result = _result()
    document = json.loads(report_json(result, CONTEXT))
    assert document["format"] == 1 and document["model"] == "churn" and document["version"] == 4
    assert DriftResult.model_validate(document).drifted_features == result.drifted_features
