from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_diabetes, load_wine

from mlops.config import DatasetConfig
from mlops.errors import ConversionFailed
from mlops.ml import convert, training
from mlops.ml.features import prepare_features
from tests.unit.ml.ml_testdata import CLASSIFIERS, FEATURES, REGRESSORS, config_for

CASES = [
    *[("binary", estimator) for estimator in CLASSIFIERS],
    *[("multiclass", estimator) for estimator in CLASSIFIERS],
    *[("regression", estimator) for estimator in REGRESSORS],
]


@pytest.mark.parametrize(("task", "estimator"), CASES, ids=[f"{t}-{e}" for t, e in CASES])
def test_every_estimator_converts_with_parity(
    frames: dict[str, pd.DataFrame], task: str, estimator: str
) -> None:
    model = training.train(frames[task], config_for(task, estimator), FEATURES)
    onnx_bytes = convert.to_onnx(model.pipeline, model.signature)

    graph = onnx.load_from_string(onnx_bytes).graph
    inputs = {i.name: i.type.tensor_type.elem_type for i in graph.input}
    expected_inputs = {
        f.input_name: onnx.TensorProto.FLOAT if f.kind == "numeric" else onnx.TensorProto.STRING
        for f in model.signature.features
    }
    assert inputs == expected_inputs
    outputs = [o.name for o in graph.output]
    if task == "regression":
        assert outputs == ["variable"]
    else:
        assert outputs == ["label", "probabilities"]

    report = convert.assert_parity(onnx_bytes, model.pipeline, model.holdout, model.signature)
    assert report.passed
    assert report.rows == len(model.holdout)
    if task == "regression":
        assert report.value_within_tol_fraction == 1.0
        assert report.max_rel_value_diff is not None and report.max_rel_value_diff < 1e-5
    else:
        assert report.label_agreement == 1.0
        assert report.prob_within_tol_fraction == 1.0
        assert report.max_abs_prob_diff is not None and report.max_abs_prob_diff < 1e-5


def test_unseen_categories_and_missing_values_score_like_scikit_learn(binary_frame: pd.DataFrame) -> None:
    model = training.train(binary_frame, config_for("binary"), FEATURES)
    onnx_bytes = convert.to_onnx(model.pipeline, model.signature)
    odd = pd.DataFrame(
        {
            "income": [np.nan, 51_000.0, np.inf, 20_000.0],
            "age": [np.nan, 30, 45, 70],
            "score": [0.1, np.nan, -2.0, 3.0],
            "member": pd.array([None, True, False, True], dtype="boolean"),
            "color": ["purple", None, "red", ""],
            "city": ["atlantis", "city 3", None, "city 39"],
        }
    )
    labels, probabilities = convert.onnx_predict(convert.session(onnx_bytes), model.signature, odd)
    expected = model.pipeline.predict_proba(prepare_features(odd, model.signature))
    assert probabilities is not None
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert labels.tolist() == model.pipeline.predict(prepare_features(odd, model.signature)).tolist()


def test_hist_gradient_boosting_thresholds_between_float32_neighbours_keep_parity() -> None:
    # diabetes has distinct values one float32 step apart: rounding a threshold between them to the
    # nearest float32 sends one of them down the wrong branch unless thresholds are rounded down.
    diabetes = load_diabetes(as_frame=True).frame
    config = DatasetConfig(target="target", task="regression")
    model = training.train(diabetes, config, list(diabetes.columns[:-1]))
    onnx_bytes = convert.to_onnx(model.pipeline, model.signature)
    everything = diabetes.drop(columns="target")
    report = convert.check_parity(onnx_bytes, model.pipeline, diabetes, model.signature)
    assert report.passed and report.value_within_tol_fraction == 1.0
    values, _ = convert.onnx_predict(onnx_bytes, model.signature, everything)
    sk = model.pipeline.predict(prepare_features(everything, model.signature))
    np.testing.assert_allclose(values, sk, rtol=1e-5)


def test_integer_labels_come_out_of_onnx_as_integers() -> None:
    wine = load_wine(as_frame=True).frame
    config = DatasetConfig(target="target", estimator="random_forest", params={"n_estimators": 10})
    model = training.train(wine, config, list(wine.columns[:-1]))
    labels, probabilities = convert.onnx_predict(
        convert.to_onnx(model.pipeline, model.signature), model.signature, model.holdout
    )
    assert labels.dtype == np.int64
    assert probabilities is not None and probabilities.shape == (len(model.holdout), 3)
    scores = training.metrics("classification", model.holdout["target"], labels, probabilities, [0, 1, 2])
    assert scores["accuracy"] == pytest.approx(model.metrics["accuracy"])


def test_a_pipeline_changed_after_conversion_fails_the_gate(binary_frame: pd.DataFrame) -> None:
    model = training.train(binary_frame, config_for("binary", "logistic_regression"), FEATURES)
    onnx_bytes = convert.to_onnx(model.pipeline, model.signature)
    estimator = model.pipeline.named_steps[training.MODEL_STEP]
    estimator.coef_ = -estimator.coef_
    report = convert.check_parity(onnx_bytes, model.pipeline, model.holdout, model.signature)
    assert not report.passed
    assert report.label_agreement is not None and report.label_agreement < 0.5
    assert report.message.startswith("ONNX and scikit-learn labels agree on ")
    assert report.message.endswith("holdout rows, below the 99.9% parity gate.")
    with pytest.raises(ConversionFailed, match=r"below the 99\.9% parity gate"):
        convert.assert_parity(onnx_bytes, model.pipeline, model.holdout, model.signature)


def test_probabilities_off_on_a_few_rows_fail_the_gate(binary_frame: pd.DataFrame) -> None:
    model = training.train(binary_frame, config_for("binary", "logistic_regression"), FEATURES)
    onnx_bytes = convert.to_onnx(model.pipeline, model.signature)
    estimator = model.pipeline.named_steps[training.MODEL_STEP]
    estimator.intercept_ = estimator.intercept_ + 1e-3  # moves every probability by ~2e-4
    report = convert.check_parity(onnx_bytes, model.pipeline, model.holdout, model.signature)
    assert not report.passed
    assert report.message.startswith("ONNX probabilities are within 0.0001 of scikit-learn's on ")


def test_regression_drift_fails_the_gate(regression_frame: pd.DataFrame) -> None:
    model = training.train(regression_frame, config_for("regression", "ridge"), FEATURES)
    onnx_bytes = convert.to_onnx(model.pipeline, model.signature)
    estimator = model.pipeline.named_steps[training.MODEL_STEP]
    estimator.intercept_ = estimator.intercept_ * 1.01
    report = convert.check_parity(onnx_bytes, model.pipeline, model.holdout, model.signature)
    assert not report.passed
    assert report.max_rel_value_diff is not None and report.max_rel_value_diff > 1e-3
    assert "(relative) of scikit-learn's on " in report.message


class _Unconvertible(ClassifierMixin, BaseEstimator):
    def fit(self, x: np.ndarray, y: np.ndarray) -> _Unconvertible:
        self.classes_ = np.unique(y)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.repeat(self.classes_[0], len(x))


def test_converter_errors_become_conversion_failed(binary_frame: pd.DataFrame) -> None:
    model = training.train(binary_frame, config_for("binary", "logistic_regression"), FEATURES)
    model.pipeline.steps[-1] = (
        training.MODEL_STEP,
        _Unconvertible().fit(np.zeros((2, 1)), np.array(["a", "b"])),
    )
    with pytest.raises(ConversionFailed, match=r"^ONNX conversion of _Unconvertible failed: "):
        convert.to_onnx(model.pipeline, model.signature)


def test_an_empty_holdout_does_not_pass(binary_frame: pd.DataFrame) -> None:
    model = training.train(binary_frame, config_for("binary", "logistic_regression"), FEATURES)
    onnx_bytes = convert.to_onnx(model.pipeline, model.signature)
    report = convert.check_parity(onnx_bytes, model.pipeline, model.holdout.head(0), model.signature)
    assert not report.passed
    assert report.message == "The holdout has no rows to check parity on."


def test_unloadable_bytes_are_conversion_failed() -> None:
    with pytest.raises(ConversionFailed, match="onnxruntime cannot load the ONNX model"):
        convert.session(b"not an onnx model")


@pytest.mark.parametrize("estimator", ["auto", "logistic_regression"])
def test_awkward_column_names_become_safe_onnx_inputs(estimator: str) -> None:
    rng = np.random.default_rng(5)
    rows = 200
    frame = pd.DataFrame(
        {
            "label": rng.choice(["a", "b"], rows),
            "petal length (cm)": rng.normal(size=rows),
            "1st": rng.choice(["x", "y", None], rows),
        }
    )
    frame["variable"] = np.where((frame["label"] == "a") ^ (frame["petal length (cm)"] > 0), "p", "q")
    config = DatasetConfig(target="variable", estimator=estimator)  # type: ignore[arg-type]
    model = training.train(frame, config, ["label", "petal length (cm)", "1st"])
    assert [f.input_name for f in model.signature.features] == ["f_label", "petal_length__cm_", "f_1st"]
    onnx_bytes = convert.to_onnx(model.pipeline, model.signature)
    graph = onnx.load_from_string(onnx_bytes).graph
    assert [i.name for i in graph.input] == ["f_label", "petal_length__cm_", "f_1st"]
    assert [o.name for o in graph.output] == ["label", "probabilities"]
    assert convert.check_parity(onnx_bytes, model.pipeline, model.holdout, model.signature).passed


@pytest.mark.parametrize("estimator", CLASSIFIERS)
def test_parity_labels_are_what_predict_returns(multiclass_frame: pd.DataFrame, estimator: str) -> None:
    model = training.train(multiclass_frame, config_for("multiclass", estimator), FEATURES)
    rows = prepare_features(model.holdout, model.signature)
    by_argmax = model.pipeline.classes_.take(model.pipeline.predict_proba(rows).argmax(axis=1))
    np.testing.assert_array_equal(by_argmax, model.pipeline.predict(rows))
