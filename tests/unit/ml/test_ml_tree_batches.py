"""The bulk graph of a converted tree ensemble, which large batches take (mlops.ml.tree_batches)."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from mlops.config import DatasetConfig
from mlops.ml import convert, training
from mlops.ml.features import prepare_features
from tests.unit.ml.ml_testdata import FEATURES, config_for

# (task, estimator, whether the bulk graph's probabilities are the kernel's bit for bit): a boosted
# classifier's logistic or softmax, computed by ONNX operators, may differ in the last bit.
SPLIT = [
    ("binary", "random_forest", True),
    ("multiclass", "random_forest", True),
    ("regression", "random_forest", True),
    ("regression", "hist_gradient_boosting", True),
    ("binary", "hist_gradient_boosting", False),
    ("multiclass", "hist_gradient_boosting", False),
]
KEPT = [("binary", "logistic_regression"), ("regression", "ridge")]


def _ops(onnx_bytes: bytes) -> list[str]:
    return [node.op_type for node in onnx.load_from_string(onnx_bytes).graph.node]


def _scored(onnx_bytes: bytes, model: Any, frame: pd.DataFrame) -> list[Any]:
    """The graph's outputs for ``frame`` in one batch, on one thread as serving runs it (onnxruntime's
    kernel sums a row's trees in another order when it splits them between threads)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    runner = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    prepared = prepare_features(frame.drop(columns=[model.signature.target]), model.signature)
    return [np.asarray(out) for out in runner.run(None, convert.onnx_feeds(prepared, model.signature))]


@pytest.mark.parametrize(("task", "estimator", "exact"), SPLIT, ids=[f"{t}-{e}" for t, e, _ in SPLIT])
def test_the_bulk_graph_of_a_tree_ensemble_scores_one_tree_per_kernel_with_the_same_outputs(
    frames: dict[str, pd.DataFrame], task: str, estimator: str, exact: bool
) -> None:
    model = training.train(frames[task], config_for(task, estimator), FEATURES)
    onnx_bytes = convert.to_onnx(model.pipeline, model.signature)
    bulk = convert.to_bulk_onnx(onnx_bytes)
    assert bulk is not None
    graph, bulk_graph = onnx.load_from_string(onnx_bytes), onnx.load_from_string(bulk)
    assert [i.name for i in bulk_graph.graph.input] == [i.name for i in graph.graph.input]
    assert [o.name for o in bulk_graph.graph.output] == [o.name for o in graph.graph.output]
    fitted = model.pipeline.named_steps[training.MODEL_STEP]
    kernels = [n for n in bulk_graph.graph.node if n.op_type == "TreeEnsembleRegressor"]
    if estimator == "random_forest":
        assert len(kernels) == len(fitted.estimators_)  # one kernel per tree
    else:
        assert len(kernels) == sum(len(per_class) for per_class in fitted._predictors)
    plain, per_tree = _scored(onnx_bytes, model, frames[task]), _scored(bulk, model, frames[task])
    labels_or_values = 0
    assert plain[labels_or_values].dtype == per_tree[labels_or_values].dtype
    assert np.array_equal(plain[labels_or_values], per_tree[labels_or_values])  # bit for bit
    if len(plain) > 1:
        if exact:
            assert np.array_equal(plain[1], per_tree[1])
        else:
            np.testing.assert_allclose(plain[1], per_tree[1], rtol=0, atol=1e-6)
    assert convert.assert_parity(onnx_bytes, model.pipeline, model.holdout, model.signature, bulk).passed


@pytest.mark.parametrize(("task", "estimator"), KEPT, ids=[f"{t}-{e}" for t, e in KEPT])
def test_other_models_have_no_bulk_graph(frames: dict[str, pd.DataFrame], task: str, estimator: str) -> None:
    model = training.train(frames[task], config_for(task, estimator), FEATURES)
    assert convert.to_bulk_onnx(convert.to_onnx(model.pipeline, model.signature)) is None


def test_the_graph_every_request_takes_keeps_the_single_kernel(binary_frame: pd.DataFrame) -> None:
    model = training.train(binary_frame, config_for("binary", "random_forest"), FEATURES)
    ops = _ops(convert.to_onnx(model.pipeline, model.signature))
    assert ops.count("TreeEnsembleClassifier") == 1 and "If" not in ops


def test_integer_labels_of_a_forest_are_the_same_in_the_bulk_graph() -> None:
    wine = load_wine(as_frame=True).frame
    config = DatasetConfig(target="target", estimator="random_forest", params={"n_estimators": 10})
    model = training.train(wine, config, list(wine.columns[:-1]))
    onnx_bytes = convert.to_onnx(model.pipeline, model.signature)
    bulk = convert.to_bulk_onnx(onnx_bytes)
    assert bulk is not None
    plain, per_tree = _scored(onnx_bytes, model, wine), _scored(bulk, model, wine)
    assert per_tree[0].dtype == np.int64
    assert np.array_equal(plain[0], per_tree[0]) and np.array_equal(plain[1], per_tree[1])


def test_a_bulk_graph_that_disagrees_fails_the_parity_gate(binary_frame: pd.DataFrame) -> None:
    model = training.train(binary_frame, config_for("binary", "random_forest"), FEATURES)
    onnx_bytes = convert.to_onnx(model.pipeline, model.signature)
    bulk = convert.to_bulk_onnx(onnx_bytes)
    assert bulk is not None
    graph = onnx.load_from_string(bulk)
    # The bulk graph's label threshold moved from 0.5 to 0.9: only large batches would answer differently.
    half = next(n for n in graph.graph.node if n.output[0].endswith("half"))
    half.attribute[0].t.CopyFrom(onnx.numpy_helper.from_array(np.array([[0.9]], dtype=np.float32)))
    broken = graph.SerializeToString()
    assert convert.check_parity(onnx_bytes, model.pipeline, model.holdout, model.signature).passed
    report = convert.check_parity(onnx_bytes, model.pipeline, model.holdout, model.signature, broken)
    assert not report.passed
    assert report.message.startswith("ONNX and scikit-learn labels agree on ")
