"""The baseline document: JSON-safe, versioned, read back exactly."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import numpy as np
import pytest

from mlops.drift.baseline import (
    BaselineError,
    KeyedColumn,
    build_baseline,
    category_key,
    class_key,
    keys,
    load_baseline,
)
from tests.unit.drift.drift_testdata import baseline_of, make_columns, predictions


def test_baseline_is_strict_json_with_a_format() -> None:
    rng = np.random.default_rng(0)
    columns = make_columns(rng, 2000)
    columns["age"][:100] = np.nan
    document = baseline_of(columns, predictions(rng, 500))
    text = json.dumps(document, allow_nan=False)
    assert json.loads(text)["format"] == 1
    assert document["rows"] == 2000
    age = document["numeric"]["age"]
    assert age["missing"] == 100 and age["missing_rate"] == pytest.approx(0.05)
    assert len(age["counts"]) == len(age["edges"]) + 1 == 10
    assert sum(age["counts"]) + age["missing"] == 2000
    assert sum(age["frequencies"]) + age["missing_rate"] == pytest.approx(1.0)
    assert document["prediction"]["kind"] == "categorical"
    assert set(document["prediction"]["counts"]) == {"churn", "stay"}


def test_numeric_sample_is_the_sorted_float32_column() -> None:
    values = np.random.default_rng(1).normal(size=3000)
    document = build_baseline({"x": values}, {}, None, "regression", None)
    sample = np.frombuffer(base64.b64decode(document["numeric"]["x"]["sample"]["data"]), dtype="<f4")
    assert np.array_equal(sample, np.sort(values.astype(np.float32)))


def test_large_columns_keep_evenly_spaced_order_statistics() -> None:
    values = np.random.default_rng(2).exponential(size=50_000)
    profile = load_baseline(build_baseline({"x": values}, {}, None, "regression", None, sample_size=1000))
    sample = profile.numeric["x"].sample
    assert sample.size == 1000 and np.all(np.diff(sample) >= 0)
    # The sample's ECDF stays within 1/1000 of the column's at every value.
    grid = np.quantile(values, np.linspace(0.01, 0.99, 99))
    full = np.searchsorted(np.sort(values), grid, side="right") / values.size
    kept = np.searchsorted(sample, grid.astype(np.float32), side="right") / sample.size
    assert np.max(np.abs(full - kept)) <= 2e-3


def test_categorical_profile_keeps_top_categories_and_other() -> None:
    values = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 5 + [None] * 10, dtype=object)
    document = build_baseline({}, {"c": values}, None, "classification", None, max_categories=3)
    profile = document["categorical"]["c"]
    assert profile["counts"] == {"a": 50, "b": 30, "c": 15}
    assert profile["other"] == 15 and profile["distinct"] == 5
    assert profile["missing"] == 10
    loaded = load_baseline(document).categorical["c"]
    assert loaded.truncated


def test_regression_predictions_are_profiled_as_numbers() -> None:
    rng = np.random.default_rng(3)
    document = build_baseline({"x": rng.normal(size=100)}, {}, rng.normal(size=80), "regression", None)
    assert document["prediction"]["kind"] == "numeric"
    assert document["prediction"]["sample"]["size"] == 80
    assert load_baseline(document).prediction is not None


def test_unknown_format_and_malformed_documents_are_refused() -> None:
    document = build_baseline({"x": np.arange(10.0)}, {}, None, "regression", None)
    with pytest.raises(BaselineError, match="format 2"):
        load_baseline({**document, "format": 2})
    broken = json.loads(json.dumps(document))
    broken["numeric"]["x"]["counts"] = [1]
    with pytest.raises(BaselineError, match="counts"):
        load_baseline(broken)
    with pytest.raises(BaselineError, match="malformed"):
        load_baseline({"format": 1, "task": "classification"})


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="same number of rows"):
        build_baseline({"x": np.arange(3.0)}, {"c": np.array(["a"])}, None, "regression", None)


def test_keys_canonicalize_labels_and_categories() -> None:
    assert [class_key(v) for v in (1, 1.0, "1", np.int64(1), " 1 ")] == ["1"] * 5
    assert [class_key(v) for v in (True, "True", "true", np.bool_(True))] == ["true"] * 4
    assert class_key(2.5) == class_key("2.5") == "2.5"
    assert class_key("setosa") == "setosa" and class_key(None) == ""
    assert [category_key(v) for v in (None, float("nan"), "x", 3)] == ["", "", "x", "3"]
    mixed = keys(np.array(["a", None, 2, float("nan")], dtype=object))
    assert mixed.tolist() == ["a", "", "2", ""]


def test_keyed_columns_give_the_baseline_of_their_values() -> None:
    """Training hands categories and class labels over keyed once per distinct value; the document is the
    one their plain values give, also where distinct values share a key (None and "", 1 and 1.0)."""
    long = "x" * 300
    rng = np.random.default_rng(3)
    colour = rng.choice(np.array(["red", "", None, "blue", long], dtype=object), size=4000)
    labels = rng.choice(np.array([1, 1.0, 2, "2"], dtype=object), size=700)

    def keyed(values: np.ndarray, key: Callable[[object], str]) -> KeyedColumn:
        distinct = list(dict.fromkeys(values.tolist()))
        position = {value: code for code, value in enumerate(distinct)}
        codes = np.array([position[value] for value in values.tolist()])
        return KeyedColumn.of_distinct(codes, distinct, key)

    numbers = {"x": rng.normal(size=4000)}
    plain = build_baseline(numbers, {"colour": colour}, labels, "classification", [1, 2])
    given = build_baseline(
        numbers, {"colour": keyed(colour, category_key)}, keyed(labels, class_key), "classification", [1, 2]
    )
    assert given == plain
    assert plain["categorical"]["colour"]["distinct"] == 4  # None is missing, as "" is
    assert set(plain["prediction"]["counts"]) == {"1", "2"}
