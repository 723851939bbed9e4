from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from mlops.config import DatasetConfig, SearchConfig
from mlops.configfile import parse_config
from mlops.errors import ConfigError, ValidationFailed
from mlops.ml import training
from mlops.ml.features import (
    MISSING_CATEGORY,
    categorical_values,
    class_labels,
    input_names,
    prepare_features,
)
from mlops.signature import FeatureSpec, Signature
from tests.unit.ml.ml_testdata import CLASSIFIERS, FEATURES, REGRESSORS, config_for


def test_input_names_are_onnx_safe_unique_and_avoid_output_names() -> None:
    names = input_names(["petal length (cm)", "petal_length__cm_", "1st", "label", "Ünïcode", "", "a-b"])
    assert names == {
        "petal length (cm)": "petal_length__cm_",
        "petal_length__cm_": "petal_length__cm__2",
        "1st": "f_1st",
        "label": "f_label",
        "Ünïcode": "_n_code",
        "": "f_",
        "a-b": "a_b",
    }


def test_prepare_features_rounds_numbers_through_float32_and_fills_categories() -> None:
    signature = Signature(
        task="classification",
        target="y",
        features=[
            FeatureSpec(name="x", input_name="x", kind="numeric", dtype="float"),
            FeatureSpec(name="flag", input_name="flag", kind="numeric", dtype="boolean"),
            FeatureSpec(name="c", input_name="c", kind="categorical", dtype="string"),
        ],
        classes=["a", "b"],
    )
    raw = pd.DataFrame(
        {
            "c": ["red", None, "blue", "green"],
            "x": [0.1, np.nan, np.inf, 1e39],
            "flag": pd.array([True, None, False, True], dtype="boolean"),
            "unused": [1, 2, 3, 4],
        }
    )
    prepared = prepare_features(raw, signature)
    assert list(prepared.columns) == ["x", "flag", "c"]
    assert prepared["x"].iloc[0] == float(np.float32(0.1))
    assert prepared["x"].isna().tolist() == [False, True, True, True]
    assert prepared["flag"].tolist()[0::2] == [1.0, 0.0]
    assert prepared["c"].tolist() == ["red", "", "blue", "green"]
    with pytest.raises(ValidationFailed, match="Column 'x' that the model uses is missing"):
        prepare_features(raw.drop(columns="x"), signature)
    with pytest.raises(ValidationFailed, match="Column 'x' is numeric, but the value 'abc' is not a number"):
        prepare_features(raw.assign(x=["1", "abc", None, "2"]), signature)


def test_class_labels_normalize_to_int_or_str_and_are_idempotent() -> None:
    assert class_labels(pd.Series([1.0, 2.0, 1.0])).tolist() == [1, 2, 1]
    assert class_labels(pd.Series([1.0, 2.0])).dtype == np.int64
    assert class_labels(pd.Series(pd.array([True, False], dtype="boolean"))).tolist() == ["True", "False"]
    assert class_labels(pd.Series([0.5, 1.5])).tolist() == ["0.5", "1.5"]
    for values in ([1, 2], ["a", "b"], ["True", "False"]):
        once = class_labels(pd.Series(values))
        assert class_labels(pd.Series(once)).tolist() == once.tolist()


@pytest.mark.parametrize(
    ("estimator", "task"),
    [
        ("logistic_regression", "regression"),
        ("linear_regression", "classification"),
        ("ridge", "classification"),
    ],
)
def test_estimator_that_does_not_fit_the_task_is_a_config_error(estimator: str, task: str) -> None:
    with pytest.raises(ConfigError, match=f"estimator '{estimator}' does not do {task}; use one of auto"):
        parse_config(f"target: y\ntask: {task}\nestimator: {estimator}\n", "config.yaml")
    # A config that skipped validation still cannot train the wrong estimator.
    config = DatasetConfig.model_construct(target="y", task=task, estimator=estimator)
    with pytest.raises(ConfigError, match=f"Estimator '{estimator}' does not do {task}; for {task} use auto"):
        training.make_estimator(config)


def test_params_override_defaults_and_unknown_ones_are_refused() -> None:
    config = DatasetConfig(
        target="y", estimator="random_forest", params={"n_estimators": 7.0, "max_depth": 3}
    )
    estimator = training.make_estimator(config)
    assert estimator.get_params()["n_estimators"] == 7
    assert isinstance(estimator.get_params()["n_estimators"], int)
    assert estimator.get_params()["random_state"] == config.seed
    with pytest.raises(ConfigError, match="'depth' is not a parameter of random_forest"):
        training.make_estimator(DatasetConfig(target="y", estimator="random_forest", params={"depth": 3}))


def test_invalid_param_value_is_a_config_error(binary_frame: pd.DataFrame) -> None:
    config = DatasetConfig(target="churned", params={"learning_rate": -1.0})
    with pytest.raises(
        ConfigError, match=r"^Invalid estimator parameter in the dataset config: .*learning_rate"
    ):
        training.train(binary_frame, config, FEATURES)


def test_only_linear_estimators_scale_numbers_and_one_hot_encode() -> None:
    kinds = ["numeric", "categorical", "numeric"]
    for estimator, scaled in [("auto", False), ("random_forest", False), ("logistic_regression", True)]:
        config = DatasetConfig(target="y", estimator=estimator)  # type: ignore[arg-type]
        pipeline = training.build_pipeline(config, kinds)  # type: ignore[arg-type]
        numeric = pipeline.named_steps["features"].transformers[0]
        assert numeric[2] == [0, 2]
        has_scaler = any(isinstance(step, StandardScaler) for _, step in numeric[1].steps)
        assert has_scaler is scaled
        categorical = pipeline.named_steps["features"].transformers[1]
        assert categorical[2] == [1]
        assert isinstance(categorical[1], OneHotEncoder if scaled else OrdinalEncoder)


@pytest.mark.parametrize("estimator", CLASSIFIERS)
def test_binary_classification_per_estimator(binary_frame: pd.DataFrame, estimator: str) -> None:
    config = config_for("binary", estimator)
    model = training.train(binary_frame, config, FEATURES)
    assert model.estimator == estimator
    assert set(model.metrics) == {"accuracy", "f1_macro", "log_loss", "roc_auc"}
    assert set(model.baseline_metrics) == set(model.metrics)
    assert model.metrics["roc_auc"] > 0.75 > model.baseline_metrics["roc_auc"]
    assert model.signature.classes == ["no", "yes"] == list(model.pipeline.classes_)
    assert model.signature.feature_names == FEATURES
    assert model.signature.excluded_columns == ["customer_id"]
    kinds = {f.name: (f.kind, f.dtype) for f in model.signature.features}
    assert kinds["member"] == ("numeric", "boolean")
    assert kinds["city"] == ("categorical", "string")
    color = next(f for f in model.signature.features if f.name == "color")
    assert color.categories == ["blue", "green", "red", "yellow"]
    assert model.rows == {"input": 400, "missing_target": 0, "used": 400, "train": 320, "holdout": 80}
    assert list(model.holdout.columns) == list(binary_frame.columns)
    # Stratified: both classes keep their share in the holdout.
    assert model.holdout["churned"].value_counts().to_dict() == {"no": 40, "yes": 40}
    json.dumps(model.result(), allow_nan=False)
    assert model.params["estimator"] == estimator
    assert set(model.versions) >= {"scikit-learn", "numpy", "pandas", "skl2onnx", "onnxruntime"}


def test_multiclass_integer_labels_stay_integers(multiclass_frame: pd.DataFrame) -> None:
    model = training.train(multiclass_frame, config_for("multiclass"), FEATURES)
    assert model.signature.classes == [0, 1, 2]
    assert all(type(label) is int for label in model.signature.classes)
    assert "roc_auc" in model.metrics
    assert model.metrics["accuracy"] > model.baseline_metrics["accuracy"]


@pytest.mark.parametrize("estimator", REGRESSORS)
def test_regression_per_estimator(regression_frame: pd.DataFrame, estimator: str) -> None:
    model = training.train(regression_frame, config_for("regression", estimator), FEATURES)
    assert set(model.metrics) == {"rmse", "mae", "r2"}
    assert model.metrics["rmse"] < model.baseline_metrics["rmse"]
    assert model.metrics["r2"] > 0.5
    assert model.signature.classes is None
    assert model.signature.value_output == "variable"
    assert model.signature.probabilities_output is None


def test_rows_without_target_are_dropped_and_training_is_deterministic(binary_frame: pd.DataFrame) -> None:
    gappy = binary_frame.copy()
    gappy.loc[:9, "churned"] = np.nan
    first = training.train(gappy, config_for("binary"), FEATURES)
    second = training.train(gappy, config_for("binary"), FEATURES)
    assert first.rows["missing_target"] == 10
    assert first.rows["used"] == 390
    assert first.metrics == second.metrics
    pd.testing.assert_frame_equal(first.holdout, second.holdout)


def test_boolean_and_float_targets_become_onnx_label_types() -> None:
    cancer = load_breast_cancer(as_frame=True).frame
    cancer["malignant"] = pd.array(cancer.pop("target") == 0, dtype="boolean")
    model = training.train(
        cancer, DatasetConfig(target="malignant", params={"max_iter": 20}), list(cancer.columns[:8])
    )
    assert model.signature.classes == ["False", "True"]
    wine = load_wine(as_frame=True).frame
    wine["target"] = wine["target"].astype(float)
    model = training.train(
        wine, DatasetConfig(target="target", estimator="logistic_regression"), list(wine.columns[:-1])
    )
    assert model.signature.classes == [0, 1, 2]


def test_search_tries_candidates_within_the_budget(binary_frame: pd.DataFrame) -> None:
    config = config_for("binary", "random_forest", search=SearchConfig(enabled=True, n_iter=2, cv=2))
    model = training.train(binary_frame, config, FEATURES)
    assert model.search is not None
    assert model.search["tried"] == 3  # the defaults, then n_iter samples
    assert model.search["metric"] == "f1_macro"
    assert model.search["stopped"] is None
    assert 0 < model.search["best_cv_score"] <= 1
    best = model.search["best_params"]
    assert all(model.params[key] == value for key, value in best.items())

    hurried = config_for("binary", search=SearchConfig(enabled=True, n_iter=5, cv=2, time_budget_s=1e-6))
    stopped = training.train(binary_frame, hurried, FEATURES)
    assert stopped.search is not None and stopped.search["tried"] == 1
    assert stopped.search["stopped"] == "time budget of 1e-06 s reached"

    plain = DatasetConfig(
        target="spend", task="regression", estimator="linear_regression", search=SearchConfig(enabled=True)
    )
    nothing = training.train(binary_frame.assign(spend=np.arange(400.0)), plain, ["income", "age"])
    assert (
        nothing.search is not None
        and nothing.search["stopped"] == "linear_regression has no hyperparameters to search"
    )


def test_metrics_leave_out_what_the_holdout_cannot_define() -> None:
    one_class = training.metrics(
        "classification", ["a", "a"], ["a", "b"], np.array([[0.9, 0.1], [0.4, 0.6]]), ["a", "b"]
    )
    assert set(one_class) == {"accuracy", "f1_macro", "log_loss"}
    raw_truth = training.metrics(
        "classification", [1.0, 0.0], np.array([1, 0]), np.array([[0.2, 0.8], [0.7, 0.3]]), [0, 1]
    )
    assert raw_truth["accuracy"] == 1.0 and raw_truth["roc_auc"] == 1.0
    regression = training.metrics("regression", [1.0, 2.0, 3.0], [1.0, 2.0, 4.0], None, None)
    assert regression["rmse"] == pytest.approx(np.sqrt(1 / 3))
    assert regression["mae"] == pytest.approx(1 / 3)
    assert regression["r2"] == pytest.approx(0.5)


def test_metric_direction_and_tolerance() -> None:
    assert training.better("accuracy", 0.9, 0.8) and not training.better("accuracy", 0.8, 0.9)
    assert training.better("rmse", 1.0, 2.0) and not training.better("log_loss", 0.5, 0.4)
    # Scores: the tolerance is absolute.
    assert not training.is_worse("f1_macro", 0.795, 0.80, 0.01)
    assert training.is_worse("f1_macro", 0.785, 0.80, 0.01)
    # Errors: the tolerance is relative to production's value.
    assert not training.is_worse("rmse", 100.9, 100.0, 0.01)
    assert training.is_worse("rmse", 101.1, 100.0, 0.01)
    assert not training.is_worse("r2", 0.9, 0.5, 0.0)
    with pytest.raises(ConfigError, match="Unknown metric 'auc'"):
        training.is_worse("auc", 1.0, 1.0, 0.0)


@pytest.mark.parametrize("classes", [["no", "yes"], ["amber", "blue", "green"], [3, 7, 11]])
def test_classification_metrics_equal_scikit_learns_on_the_labels(classes: list[object]) -> None:
    """The metrics score text labels as codes in sorted order; the figures are scikit-learn's own."""
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    rng = np.random.default_rng(7)
    labels = np.array(classes, dtype=object)
    truth = labels[rng.integers(0, len(classes), 3000)]
    predicted = labels[rng.integers(0, len(classes), 3000)]
    proba = rng.random((3000, len(classes)))
    proba /= proba.sum(axis=1, keepdims=True)
    got = training.metrics("classification", truth, predicted, proba, classes)
    expected_truth = class_labels(pd.Series(truth))
    expected_predicted = class_labels(pd.Series(predicted))
    expected_labels = list(class_labels(pd.Series(labels)))
    roc = (
        roc_auc_score(expected_truth == expected_labels[1], proba[:, 1])
        if len(classes) == 2
        else roc_auc_score(expected_truth, proba, multi_class="ovr", average="macro", labels=expected_labels)
    )
    assert got == {
        "accuracy": accuracy_score(expected_truth, expected_predicted),
        "f1_macro": f1_score(expected_truth, expected_predicted, average="macro", zero_division=0),
        "log_loss": log_loss(expected_truth, proba, labels=expected_labels),
        "roc_auc": roc,
    }


@pytest.mark.parametrize("dtype", ["str", "string[python]", "string[pyarrow]"])
def test_text_categories_share_one_string_per_distinct_value(dtype: str) -> None:
    # A big table's text column must not become one new string object per row (the SageMaker job's
    # memory on a 1 GiB upload); the values stay what training always saw, missing as "".
    series = pd.Series(["red", "blue", None, "red", "blue"] * 1000, dtype=dtype)
    values = categorical_values(series)
    assert values.dtype == object
    assert list(values[:5]) == ["red", "blue", MISSING_CATEGORY, "red", "blue"]
    assert len({id(value) for value in values}) == 3
