"""The verdict: precise on shifted features (its false-alarm rate on same-distribution traffic is
measured in tests/integration/test_drift_false_alarms.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlops.config import DriftConfig
from mlops.drift.baseline import build_baseline, load_baseline
from mlops.drift.evaluate import evaluate, feature_alpha
from tests.unit.drift.drift_testdata import CATEGORICAL, NUMERIC, baseline_of, make_columns, predictions

CONFIG = DriftConfig()


@pytest.mark.parametrize(
    "shifted",
    [
        ("age", "score", "plan"),
        ("income", "visits", "device", "city"),
        ("age", "income", "score", "visits", "plan"),
    ],
)
def test_shifted_traffic_is_detected_on_exactly_the_shifted_features(shifted: tuple[str, ...]) -> None:
    rng = np.random.default_rng(len(shifted))
    baseline = baseline_of(make_columns(rng, 20_000), predictions(rng, 4000))
    current = make_columns(rng, 3000, shift=shifted)
    if "device" in shifted:
        current["device"] = rng.choice(["ios", "android", "web"], 3000, p=[0.1, 0.2, 0.7])
    if "city" in shifted:
        current["city"] = np.where(rng.random(3000) < 0.3, "new-town", current["city"])
    result = evaluate(baseline, current, predictions(rng, 3000), CONFIG)
    assert sorted(result.drifted_features) == sorted(shifted)
    assert result.verdict == "drift" and result.drift_detected
    assert result.required_drifted == 3  # ceil(0.3 * 8)
    assert result.score == pytest.approx(len(shifted) / 3)
    if "city" in shifted:
        assert result.features["city"].new_categories == pytest.approx(900, abs=80)
        assert result.features["city"].new_category_values == ["new-town"]


def test_fewer_drifted_features_than_the_share_is_no_drift() -> None:
    rng = np.random.default_rng(11)
    baseline = baseline_of(make_columns(rng, 20_000))
    result = evaluate(baseline, make_columns(rng, 3000, shift=("age", "plan")), None, CONFIG)
    assert sorted(result.drifted_features) == ["age", "plan"]
    assert result.verdict == "no_drift" and not result.drift_detected
    assert result.score == pytest.approx(2 / 3)


def test_below_min_rows_is_insufficient_data_even_when_shifted() -> None:
    rng = np.random.default_rng(12)
    baseline = baseline_of(make_columns(rng, 20_000))
    result = evaluate(
        baseline, make_columns(rng, 150, shift=("age", "income", "score", "plan")), None, CONFIG
    )
    assert result.verdict == "insufficient_data"
    assert not result.drift_detected and result.score == 0.0 and result.drifted_features
    empty = evaluate(baseline, {k: v[:0] for k, v in make_columns(rng, 1).items()}, None, CONFIG)
    assert empty.verdict == "insufficient_data" and empty.rows == 0
    assert all(f.statistic is None and not f.drift for f in empty.features.values())


def test_a_surge_of_missing_values_drifts_through_psi() -> None:
    rng = np.random.default_rng(13)
    baseline = baseline_of(make_columns(rng, 20_000))
    current = make_columns(rng, 3000)
    current["income"][: 3000 // 4] = np.nan
    feature = evaluate(baseline, current, None, CONFIG).features["income"]
    assert feature.drift and feature.reasons == ["psi"]
    assert feature.missing_rate == pytest.approx(0.25)


def test_new_categories_are_counted_only_when_training_kept_every_category() -> None:
    train = np.array(["a", "b", "c"] * 400)
    current = np.array(["a", "b", "c", "zzz"] * 100)
    exact = build_baseline({}, {"c": train}, None, "classification", None)
    cut = build_baseline({}, {"c": train}, None, "classification", None, max_categories=2)
    assert evaluate(exact, {"c": current}, None, CONFIG).features["c"].new_categories == 100
    assert evaluate(cut, {"c": current}, None, CONFIG).features["c"].new_categories == 0


def test_prediction_drift_is_reported_but_does_not_decide() -> None:
    rng = np.random.default_rng(14)
    baseline = baseline_of(make_columns(rng, 20_000), predictions(rng, 4000, churn=0.2))
    result = evaluate(baseline, make_columns(rng, 3000), predictions(rng, 3000, churn=0.6), CONFIG)
    assert result.prediction is not None and result.prediction.drift
    assert result.verdict == "no_drift"


def test_regression_predictions_use_the_numeric_tests() -> None:
    rng = np.random.default_rng(15)
    baseline = build_baseline({"x": rng.normal(size=5000)}, {}, rng.normal(size=2000), "regression", None)
    result = evaluate(baseline, {"x": rng.normal(size=1000)}, rng.normal(1.0, 1.0, 1000), CONFIG)
    assert result.prediction is not None
    assert result.prediction.test == "ks" and result.prediction.drift


def test_contract_document() -> None:
    rng = np.random.default_rng(16)
    baseline = baseline_of(make_columns(rng, 5000), predictions(rng, 1000))
    result = evaluate(
        load_baseline(baseline), make_columns(rng, 500, shift=("age",)), predictions(rng, 500), CONFIG
    )
    doc = result.to_contract("churn", 3, "s3://bucket/reports/x.json")
    json.dumps(doc, allow_nan=False)
    assert {"model", "version", "rows", "drift_detected", "features", "prediction", "report"} <= set(doc)
    assert doc["model"] == "churn" and doc["version"] == 3 and doc["rows"] == 500
    assert set(doc["features"]) == set(NUMERIC + CATEGORICAL)
    age = doc["features"]["age"]
    assert {"test", "statistic", "threshold", "drift"} <= set(age)
    assert age["test"] == "ks" and age["drift"] is True and age["statistic"] >= age["threshold"]
    assert doc["features"]["plan"]["test"] == "jensen_shannon"
    assert doc["prediction"]["test"] == "jensen_shannon"


def test_missing_current_column_is_a_clear_error() -> None:
    rng = np.random.default_rng(17)
    with pytest.raises(ValueError, match="no column 'income'"):
        evaluate(baseline_of(make_columns(rng, 500)), {"age": np.zeros(3)}, None, CONFIG)


def test_feature_alpha() -> None:
    assert feature_alpha(0.01, 1, 1) == 0.01
    assert feature_alpha(0.01, 3, 1) == pytest.approx(0.01 / 3)
    assert feature_alpha(0.01, 8, 3) == 0.01
    assert feature_alpha(0.01, 4, 2) == 0.01


def test_a_big_window_evaluated_on_several_threads_gives_the_serial_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Past PARALLEL_MIN_ROWS features are evaluated a few at once: same verdict, same numbers, same order.
    from mlops.drift import evaluate as evaluation
    from mlops.drift.baseline import KeyedColumn

    rng = np.random.default_rng(11)
    baseline = load_baseline(baseline_of(make_columns(rng, 20_000), predictions(rng, 4000)))
    rows = evaluation.PARALLEL_MIN_ROWS + 1
    current = make_columns(rng, rows, shift=("age", "plan"))
    labels = predictions(rng, rows)
    distinct, codes = np.unique(labels, return_inverse=True)
    keyed = KeyedColumn(codes.astype(np.int32), [str(label) for label in distinct])
    together = evaluate(baseline, current, keyed, CONFIG)
    monkeypatch.setattr(evaluation, "EVALUATE_WORKERS", 1)
    alone = evaluate(baseline, current, labels, CONFIG)
    assert together.model_dump() == alone.model_dump()
    assert list(together.features) == list(alone.features) == list(baseline.feature_names)
    assert sorted(together.drifted_features) == ["age", "plan"]
