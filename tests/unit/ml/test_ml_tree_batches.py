"""The per-tree path a converted tree ensemble takes on large batches (mlops.ml.tree_batches)."""

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
from mlops.ml.convert import BATCH_ROWS
from mlops.ml.features import prepare_features
from mlops.ml.tree_batches import add_batch_path
from tests.unit.ml.ml_testdata import FEATURES, config_for

# (task, estimator, whether the per-tree path's probabilities are the kernel's bit for bit): a boosted
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


def _both_paths(onnx_bytes: bytes, model: Any, frame: pd.DataFrame) -> tuple[list[Any], list[Any]]:
    """The graph's outputs for ``frame`` scored in batches below ``BATCH_ROWS`` and as one large batch,
    on one thread as serving runs it (onnxruntime's kernel sums a row's trees in another order when it
    splits them between threads)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    runner = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    prepared = prepare_features(frame.drop(columns=[model.signature.target]), model.signature)
    repeated = pd.concat([prepared] * -(-BATCH_ROWS // len(prepared)), ignore_index=True)
    feeds = convert.onnx_feeds(repeated, model.signature)
    large = [np.asarray(out)[: len(prepared)] for out in runner.run(None, feeds)]
    rows = len(prepared)
    chunks = [
        runner.run(None, {name: value[start : min(start + 100, rows)] for name, value in feeds.items()})
        for start in range(0, rows, 100)
    ]
    small = [np.concatenate([np.asarray(chunk[k]) for chunk in chunks]) for k in range(len(large))]
    return small, large


@pytest.mark.parametrize(("task", "estimator", "exact"), SPLIT, ids=[f"{t}-{e}" for t, e, _ in SPLIT])
def test_large_batches_of_a_tree_ensemble_take_the_per_tree_path_with_the_same_outputs(
    frames: dict[str, pd.DataFrame], task: str, estimator: str, exact: bool
) -> None:
    model = training.train(frames[task], config_for(task, estimator), FEATURES)
    onnx_bytes = convert.to_onnx(model.pipeline, model.signature)
    assert "If" in _ops(onnx_bytes)
    trees = onnx.load_from_string(onnx_bytes).graph.node[_ops(onnx_bytes).index("If")]
    batch_branch = next(a.g for a in trees.attribute if a.name == "then_branch")
    fitted = model.pipeline.named_steps[training.MODEL_STEP]
    kernels = [n for n in batch_branch.node if n.op_type == "TreeEnsembleRegressor"]
    if estimator == "random_forest":
        assert len(kernels) == len(fitted.estimators_)  # one kernel per tree
    else:
        assert len(kernels) == sum(len(per_class) for per_class in fitted._predictors)
    small, large = _both_paths(onnx_bytes, model, frames[task])
    labels_or_values = 0
    assert small[labels_or_values].dtype == large[labels_or_values].dtype
    assert np.array_equal(small[labels_or_values], large[labels_or_values])  # bit for bit
    if len(small) > 1:
        if exact:
            assert np.array_equal(small[1], large[1])
        else:
            np.testing.assert_allclose(small[1], large[1], rtol=0, atol=1e-6)
    assert convert.assert_parity(onnx_bytes, model.pipeline, model.holdout, model.signature).passed


@pytest.mark.parametrize(("task", "estimator"), KEPT, ids=[f"{t}-{e}" for t, e in KEPT])
def test_other_models_keep_their_graph(frames: dict[str, pd.DataFrame], task: str, estimator: str) -> None:
    model = training.train(frames[task], config_for(task, estimator), FEATURES)
    onnx_bytes = convert.to_onnx(model.pipeline, model.signature)
    assert "If" not in _ops(onnx_bytes)
    plain = onnx.load_from_string(onnx_bytes)
    assert add_batch_path(plain).SerializeToString() == plain.SerializeToString()


def test_integer_labels_of_a_forest_are_the_same_on_both_paths() -> None:
    wine = load_wine(as_frame=True).frame
    config = DatasetConfig(target="target", estimator="random_forest", params={"n_estimators": 10})
    model = training.train(wine, config, list(wine.columns[:-1]))
    onnx_bytes = convert.to_onnx(model.pipeline, model.signature)
    small, large = _both_paths(onnx_bytes, model, wine)
    assert large[0].dtype == np.int64
    assert np.array_equal(small[0], large[0]) and np.array_equal(small[1], large[1])


def test_a_batch_path_that_disagrees_fails_the_parity_gate(binary_frame: pd.DataFrame) -> None:
    model = training.train(binary_frame, config_for("binary", "random_forest"), FEATURES)
    graph = onnx.load_from_string(convert.to_onnx(model.pipeline, model.signature))
    choose = next(n for n in graph.graph.node if n.op_type == "If")
    batch_branch = next(a.g for a in choose.attribute if a.name == "then_branch")
    # The batch path's label threshold moved from 0.5 to 0.9: only large batches answer differently.
    half = next(n for n in batch_branch.node if n.output[0].endswith("half"))
    half.attribute[0].t.CopyFrom(onnx.numpy_helper.from_array(np.array([[0.9]], dtype=np.float32)))
    broken = graph.SerializeToString()
    labels, _ = convert.onnx_predict(broken, model.signature, model.holdout.head(10))
    assert len(labels) == 10  # small batches still answer as before
    report = convert.check_parity(broken, model.pipeline, model.holdout, model.signature)
    assert not report.passed
    assert report.message.startswith("ONNX and scikit-learn labels agree on ")
