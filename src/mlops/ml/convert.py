"""ONNX conversion of a fitted pipeline, the parity gate against scikit-learn, and ONNX scoring.

The graph follows ``mlops.signature``: one input per feature, ``[N, 1]`` float32 or string, named by
``input_name``; classifiers output ``label`` and ``probabilities`` (no ZipMap), regressors
``variable``. Opsets ``TARGET_OPSET`` (ONNX 17, ai.onnx.ml 3) run on onnxruntime 1.14 and later.
A tree ensemble also gets a bulk graph (``to_bulk_onnx``: one kernel per tree, for large batches;
``mlops.ml.tree_batches``); the parity gate checks both graphs.

The parity gate compares ONNX with scikit-learn on the holdout, both fed ``prepare_features`` of the
same rows:

- classification: the labels agree on at least ``MIN_AGREEMENT`` (99.9%) of rows, and on at least
  that share of rows every class probability is within ``PROB_TOLERANCE`` (1e-4, absolute) of
  scikit-learn's;
- regression: on at least ``MIN_AGREEMENT`` of rows, ``|onnx - sklearn| / max(|sklearn|, scale)`` is
  at most ``VALUE_TOLERANCE`` (1e-4), where ``scale`` is the mean ``|sklearn|`` prediction over the
  holdout: float32 error grows with the target's magnitude, not with each row's distance from zero.

The gate is on a share of rows rather than on every row because ONNX computes in float32 and
scikit-learn in float64: a row whose value lies within float32 rounding of a tree threshold takes the
other branch, moving its probability by a whole leaf value. Two measures remove the known causes:
``prepare_features`` rounds inputs through float32 for both sides, and ``to_onnx`` rounds
gradient-boosting thresholds down to float32 (skl2onnx rounds them to nearest, which moves rows
across thresholds). What each measure removed is in docs/performance.md ("Figures behind design
choices"). The report still gives the worst row (``max_abs_prob_diff``, ``max_rel_value_diff``), and a broken conversion
disagrees on far more than 0.1% of rows.

A gate that passes also reports the ONNX model's metrics on those rows (``holdout_metrics``, as
``mlops.ml.training.metrics`` scores them, from ``model.onnx``): the candidate's own score, which
promotion would otherwise compute again with the same model on the same rows.

This is the only module that imports onnxruntime (skl2onnx and onnx are imported only when converting).
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
from pydantic import BaseModel, ConfigDict
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline

from mlops.errors import ConversionFailed
from mlops.ml.features import prepare_features
from mlops.signature import Signature

TARGET_OPSET: dict[str, int] = {"": 17, "ai.onnx.ml": 3}
MIN_AGREEMENT = 0.999
PROB_TOLERANCE = 1e-4
VALUE_TOLERANCE = 1e-4


class ParityReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    rows: int
    label_agreement: float | None = None
    max_abs_prob_diff: float | None = None
    prob_within_tol_fraction: float | None = None
    max_rel_value_diff: float | None = None
    value_within_tol_fraction: float | None = None
    passed: bool
    message: str
    holdout_metrics: dict[str, float] | None = None


def to_onnx(pipeline: Pipeline, signature: Signature) -> bytes:
    """Serialized ONNX model of ``pipeline``, with the inputs and outputs ``signature`` describes."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    initial_types = [
        (
            feature.input_name,
            FloatTensorType([None, 1]) if feature.kind == "numeric" else StringTensorType([None, 1]),
        )
        for feature in signature.features
    ]
    pipeline = _float32_thresholds(pipeline)
    estimator = pipeline.steps[-1][1]
    if signature.task == "classification":
        options: dict[int, dict[str, Any]] | None = {id(estimator): {"zipmap": False}}
        final_types: list[tuple[str, Any]] = [
            (signature.label_output, None),
            (signature.probabilities_output or "probabilities", None),
        ]
    else:
        options = None
        final_types = [(signature.value_output or "variable", None)]
    try:
        model = convert_sklearn(
            pipeline,
            initial_types=initial_types,
            final_types=final_types,
            options=options,
            target_opset=TARGET_OPSET,
        )
    # skl2onnx signals an unsupported model with many exception types (RuntimeError, TypeError,
    # NotImplementedError, its own MissingShapeCalculator...); all mean the same thing here.
    except Exception as exc:
        raise ConversionFailed(
            f"ONNX conversion of {type(estimator).__name__} failed: {_first_line(exc)}"
        ) from exc
    return bytes(model.SerializeToString())


def to_bulk_onnx(onnx_model: bytes) -> bytes | None:
    """The bulk graph of a converted tree ensemble (``mlops.ml.tree_batches``), None for other models."""
    import onnx

    from mlops.ml.tree_batches import bulk_model

    bulk = bulk_model(onnx.load_from_string(onnx_model))
    return None if bulk is None else bytes(bulk.SerializeToString())


def _float32_thresholds(pipeline: Pipeline) -> Pipeline:
    """A copy whose histogram-gradient-boosting thresholds are float32 numbers, rounded down.

    The ONNX tree ensemble stores thresholds as float32 and skl2onnx rounds this estimator's to the
    nearest one, which can land on a data value just above the float64 threshold and send that value
    down the other branch. For the float32 inputs ``x`` the model gets, ``x <= t`` holds exactly when
    ``x <= t32`` with ``t32`` the largest float32 not above ``t``, so the copy predicts exactly like
    the original and its thresholds survive conversion unchanged.
    """
    estimator = pipeline.steps[-1][1]
    if not isinstance(estimator, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        return pipeline
    adjusted = copy.deepcopy(pipeline)
    for predictors in adjusted.steps[-1][1]._predictors:
        for predictor in predictors:
            nodes = predictor.nodes
            split = nodes["is_leaf"] == 0
            thresholds = nodes["num_threshold"][split]
            with np.errstate(over="ignore"):
                rounded = thresholds.astype(np.float32)
            above = rounded.astype(np.float64) > thresholds
            rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
            nodes["num_threshold"][split] = rounded.astype(np.float64)
    return adjusted


def session(model: bytes) -> ort.InferenceSession:
    """An onnxruntime CPU session for a serialized model."""
    try:
        return ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ConversionFailed(f"onnxruntime cannot load the ONNX model: {_first_line(exc)}") from exc


def onnx_feeds(prepared: pd.DataFrame, signature: Signature) -> dict[str, np.ndarray[Any, Any]]:
    """Inputs for the ONNX model from ``prepare_features`` output: ``[N, 1]`` float32 or str arrays."""
    feeds: dict[str, np.ndarray[Any, Any]] = {}
    for feature in signature.features:
        column = prepared[feature.name]
        if feature.kind == "numeric":
            feeds[feature.input_name] = column.to_numpy(dtype=np.float32).reshape(-1, 1)
        else:
            feeds[feature.input_name] = column.to_numpy(dtype=object).reshape(-1, 1)
    return feeds


def onnx_predict(
    model: bytes | ort.InferenceSession, signature: Signature, df: pd.DataFrame
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    """Score raw rows: ``(labels, probabilities)`` for a classifier, ``(values, None)`` for a regressor."""
    runner = session(model) if isinstance(model, bytes) else model
    return _run(runner, signature, prepare_features(df, signature))


def _run(
    runner: ort.InferenceSession, signature: Signature, prepared: pd.DataFrame
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    feeds = onnx_feeds(prepared, signature)
    if signature.task == "classification":
        probabilities_output = signature.probabilities_output or "probabilities"
        labels, probabilities = runner.run([signature.label_output, probabilities_output], feeds)
        return np.asarray(labels).ravel(), np.asarray(probabilities, dtype=np.float64)
    (values,) = runner.run([signature.value_output or "variable"], feeds)
    return np.asarray(values, dtype=np.float64).ravel(), None


def check_parity(
    onnx_model: bytes,
    pipeline: Pipeline,
    holdout: pd.DataFrame,
    signature: Signature,
    bulk_model: bytes | None = None,
) -> ParityReport:
    """Compare ONNX with scikit-learn on ``holdout`` (raw rows); the gate is in the module docstring.
    With a bulk graph, both graphs score the holdout and pass the same gate; the report is the worse."""
    rows = len(holdout)
    if rows == 0:
        return ParityReport(rows=0, passed=False, message="The holdout has no rows to check parity on.")
    prepared = prepare_features(holdout, signature)
    graphs = [onnx_model] if bulk_model is None else [onnx_model, bulk_model]
    scored = [_run(session(graph), signature, prepared) for graph in graphs]
    with warnings.catch_warnings():
        # Holdout categories unseen in training are expected and encoded as all zeros.
        warnings.simplefilter("ignore", category=UserWarning)
        if signature.task == "regression" or scored[0][1] is None:
            sk_values = np.asarray(pipeline.predict(prepared), dtype=np.float64).ravel()
            report = _worse([_regression_parity(rows, values, sk_values) for values, _ in scored])
        else:
            sk_probabilities = np.asarray(pipeline.predict_proba(prepared), dtype=np.float64)
            # What predict() returns for every classifier offered (gradient boosting, forest, logistic
            # regression), without computing the probabilities a second time.
            sk_labels = np.asarray(pipeline.classes_).take(sk_probabilities.argmax(axis=1))
            report = _worse(
                [
                    _classification_parity(rows, labels, sk_labels, probabilities, sk_probabilities)
                    for labels, probabilities in scored
                    if probabilities is not None
                ]
            )
    if not report.passed or signature.target not in holdout.columns:
        return report
    from mlops.ml.training import metrics

    onnx_values, onnx_probabilities = scored[0]  # model.onnx: what promotion would score
    scores = metrics(
        signature.task,
        holdout[signature.target].to_numpy(),
        onnx_values,
        onnx_probabilities,
        signature.classes,
    )
    return report.model_copy(update={"holdout_metrics": scores})


def _worse(reports: list[ParityReport]) -> ParityReport:
    """A failing report first, else the one with the larger worst difference."""
    return min(
        reports,
        key=lambda r: (r.passed, -(r.max_abs_prob_diff or 0.0), -(r.max_rel_value_diff or 0.0)),
    )


def assert_parity(
    onnx_model: bytes,
    pipeline: Pipeline,
    holdout: pd.DataFrame,
    signature: Signature,
    bulk_model: bytes | None = None,
) -> ParityReport:
    """``check_parity``, raising ``ConversionFailed`` with its message when the gate fails."""
    report = check_parity(onnx_model, pipeline, holdout, signature, bulk_model)
    if not report.passed:
        raise ConversionFailed(report.message)
    return report


def _classification_parity(
    rows: int,
    onnx_labels: np.ndarray[Any, Any],
    sk_labels: np.ndarray[Any, Any],
    onnx_probabilities: np.ndarray[Any, Any],
    sk_probabilities: np.ndarray[Any, Any],
) -> ParityReport:
    if onnx_probabilities.shape != sk_probabilities.shape:
        return ParityReport(
            rows=rows,
            passed=False,
            message=f"The ONNX model outputs probabilities of shape {onnx_probabilities.shape}, "
            f"scikit-learn {sk_probabilities.shape}.",
        )
    agreement = float(np.mean(_labels_equal(onnx_labels, sk_labels)))
    row_diff = np.abs(onnx_probabilities - sk_probabilities).max(axis=1)
    max_diff = float(row_diff.max())
    within = float(np.mean(row_diff <= PROB_TOLERANCE))
    passed = agreement >= MIN_AGREEMENT and within >= MIN_AGREEMENT
    if agreement < MIN_AGREEMENT:
        message = (
            f"ONNX and scikit-learn labels agree on {agreement:.2%} of {rows} holdout rows, "
            f"below the {MIN_AGREEMENT:.1%} parity gate."
        )
    elif within < MIN_AGREEMENT:
        message = (
            f"ONNX probabilities are within {PROB_TOLERANCE:g} of scikit-learn's on {within:.2%} of "
            f"{rows} holdout rows, below the {MIN_AGREEMENT:.1%} parity gate (worst {max_diff:.2e})."
        )
    else:
        message = (
            f"Parity holds on {rows} holdout rows: labels agree on {agreement:.2%}, probabilities within "
            f"{PROB_TOLERANCE:g} on {within:.2%} (worst {max_diff:.2e})."
        )
    return ParityReport(
        rows=rows,
        label_agreement=agreement,
        max_abs_prob_diff=max_diff,
        prob_within_tol_fraction=within,
        passed=passed,
        message=message,
    )


def _regression_parity(
    rows: int, onnx_values: np.ndarray[Any, Any], sk_values: np.ndarray[Any, Any]
) -> ParityReport:
    if onnx_values.shape != sk_values.shape:
        return ParityReport(
            rows=rows,
            passed=False,
            message=f"The ONNX model outputs {onnx_values.shape[0]} values for {rows} holdout rows.",
        )
    scale = max(float(np.mean(np.abs(sk_values))), np.finfo(np.float64).tiny)
    relative = np.abs(onnx_values - sk_values) / np.maximum(np.abs(sk_values), scale)
    relative = np.where(np.isnan(relative), np.inf, relative)
    max_relative = float(relative.max())
    within = float(np.mean(relative <= VALUE_TOLERANCE))
    passed = within >= MIN_AGREEMENT
    if passed:
        message = (
            f"Parity holds on {rows} holdout rows: predictions within {VALUE_TOLERANCE:g} relative on "
            f"{within:.2%} (worst {max_relative:.2e})."
        )
    else:
        message = (
            f"ONNX predictions are within {VALUE_TOLERANCE:g} (relative) of scikit-learn's on "
            f"{within:.2%} of {rows} holdout rows, below the {MIN_AGREEMENT:.1%} parity gate "
            f"(worst {max_relative:.2e})."
        )
    return ParityReport(
        rows=rows,
        max_rel_value_diff=max_relative if np.isfinite(max_relative) else None,
        value_within_tol_fraction=within,
        passed=passed,
        message=message,
    )


def _labels_equal(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    # ONNX returns int64 or str labels, scikit-learn the fitted labels' dtype (int32, object...).
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        return np.asarray(a.astype(np.int64) == b.astype(np.int64))
    return np.asarray(a.astype(str) == b.astype(str))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if text.endswith(".") else f"{text}."
