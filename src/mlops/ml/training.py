"""Training: the scikit-learn pipeline, the holdout split, metrics against a trivial baseline.

``train`` is the whole step: it drops rows without a target, splits a seeded holdout (stratified for
classification whenever every class can be on both sides), fits the pipeline built by
``build_pipeline`` (optionally after a randomized search), and scores it and the trivial baseline
(majority class with class priors as probabilities, or the mean) on the same holdout.

The pipeline is a ``ColumnTransformer`` over ``prepare_features`` output (see ``mlops.ml.features``):
numeric features are median-imputed, and standardized only for linear estimators (trees do not need
it, and scaling in float32 inside ONNX would move values across tree thresholds). Categorical
features (missing as ``""``, a category like any other) are encoded per estimator family:

- linear estimators: one-hot, unknown categories all zeros, the ``MAX_CATEGORIES - 1`` most frequent
  categories of a column kept and the rest grouped as infrequent (bounding the matrix width);
- trees: one ordinal code per category (sorted), ``UNKNOWN_CODE`` for a category never seen. Trees
  split codes as well as one-hot columns, and a column per feature instead of one per category makes
  gradient boosting several times cheaper to fit at the same accuracy (docs/performance.md, "Figures
  behind design choices").

Classification labels are normalized by ``class_labels``: whole numbers become ``int``, booleans
the strings ``"True"``/``"False"`` and everything else ``str``, the two label types ONNX classifiers
can output. The signature's ``classes`` follow ``pipeline.classes_``.

Promotion metrics: ``accuracy``, ``f1_macro``, ``roc_auc`` and ``r2`` are higher-is-better and their
tolerance is absolute; ``rmse``, ``mae`` and ``log_loss`` are lower-is-better errors on the target's
own scale, so their tolerance is relative to production's value (0.01 = 1% worse).
"""

from __future__ import annotations

import math
import platform
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import loguniform, randint
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.model_selection import (
    KFold,
    ParameterSampler,
    StratifiedKFold,
    cross_val_score,
    train_test_split,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from mlops.config import DatasetConfig, Task
from mlops.errors import ConfigError, TrainingFailed
from mlops.ml.dataset import infer_schema
from mlops.ml.features import class_labels, feature_kinds, input_names, kind_of, prepare_features
from mlops.signature import MISSING_CATEGORY, ClassLabel, FeatureKind, FeatureSpec, Signature

MAX_CATEGORIES = 32
UNKNOWN_CODE = -1
HIGHER_IS_BETTER: frozenset[str] = frozenset({"accuracy", "f1_macro", "roc_auc", "r2"})
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse", "mae", "log_loss"})

LINEAR_ESTIMATORS = frozenset({"logistic_regression", "linear_regression", "ridge"})
# scikit-learn's own defaults, spelled out so they are recorded with the model; early stopping on a
# 10% validation split from 10,000 rows up ("auto").
_HGB_DEFAULTS: dict[str, Any] = {
    "max_iter": 100,
    "learning_rate": 0.1,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 20,
    "l2_regularization": 0.0,
    "early_stopping": "auto",
}
_ESTIMATORS: dict[tuple[str, str], tuple[type[BaseEstimator], dict[str, Any]]] = {
    ("hist_gradient_boosting", "classification"): (
        HistGradientBoostingClassifier,
        _HGB_DEFAULTS,
    ),
    ("hist_gradient_boosting", "regression"): (HistGradientBoostingRegressor, _HGB_DEFAULTS),
    # Depth is bounded so the ONNX model stays a few MB (100 trees of at most 4096 leaves).
    ("random_forest", "classification"): (
        RandomForestClassifier,
        {"n_estimators": 100, "max_depth": 12, "n_jobs": -1},
    ),
    ("random_forest", "regression"): (
        RandomForestRegressor,
        {"n_estimators": 100, "max_depth": 12, "n_jobs": -1},
    ),
    ("logistic_regression", "classification"): (LogisticRegression, {"C": 1.0, "max_iter": 2000}),
    ("linear_regression", "regression"): (LinearRegression, {}),
    ("ridge", "regression"): (Ridge, {"alpha": 1.0}),
}
_SEARCH_SPACES: dict[str, dict[str, Any]] = {
    "hist_gradient_boosting": {
        "learning_rate": loguniform(0.02, 0.3),
        "max_leaf_nodes": randint(8, 64),
        "min_samples_leaf": randint(5, 100),
        "l2_regularization": loguniform(1e-4, 10.0),
    },
    "random_forest": {
        "n_estimators": [50, 100, 200],
        "max_depth": [6, 9, 12, 15],
        "min_samples_leaf": randint(1, 10),
        "max_features": ["sqrt", 0.5, 1.0],
    },
    "logistic_regression": {"C": loguniform(1e-3, 1e2)},
    "ridge": {"alpha": loguniform(1e-3, 1e3)},
}
_SCORERS = {
    "accuracy": "accuracy",
    "f1_macro": "f1_macro",
    "log_loss": "neg_log_loss",
    "roc_auc": "roc_auc_ovr",
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "r2": "r2",
}
_VERSIONED = ("scikit-learn", "numpy", "pandas", "scipy", "skl2onnx", "onnxruntime", "onnx")
MODEL_STEP = "model"


@dataclass
class TrainedModel:
    """What ``train`` returns; ``result()`` is its JSON-safe part (everything but pipeline and holdout)."""

    pipeline: Pipeline
    signature: Signature
    holdout: pd.DataFrame = field(repr=False)
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    params: dict[str, Any]
    durations: dict[str, float]
    versions: dict[str, str]
    rows: dict[str, int]
    search: dict[str, Any] | None = None
    # The pipeline's predictions on ``holdout``, row for row, when ``train`` made them (not stored).
    holdout_predictions: np.ndarray[Any, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def estimator(self) -> str:
        return str(self.params["estimator"])

    def result(self) -> dict[str, Any]:
        return {
            "signature": self.signature.model_dump(mode="json"),
            "metrics": self.metrics,
            "baseline_metrics": self.baseline_metrics,
            "params": self.params,
            "durations": self.durations,
            "versions": self.versions,
            "rows": self.rows,
            "search": self.search,
        }


def resolve_estimator(config: DatasetConfig) -> str:
    """The estimator ``config.estimator`` names for its task ("auto" is histogram gradient boosting)."""
    name = "hist_gradient_boosting" if config.estimator == "auto" else config.estimator
    if (name, config.task) not in _ESTIMATORS:
        fitting = sorted({est for est, task in _ESTIMATORS if task == config.task})
        raise ConfigError(
            f"Estimator {name!r} does not do {config.task}; for {config.task} use auto or one of "
            f"{', '.join(fitting)}."
        )
    return name


def make_estimator(config: DatasetConfig) -> BaseEstimator:
    """The configured estimator with the project's defaults, ``config.seed`` and ``config.params``."""
    name = resolve_estimator(config)
    cls, defaults = _ESTIMATORS[(name, config.task)]
    estimator = cls(**defaults)
    accepted = estimator.get_params()
    if "random_state" in accepted:
        estimator.set_params(random_state=config.seed)
    overrides: dict[str, Any] = {}
    for key, value in config.params.items():
        if key not in accepted:
            raise ConfigError(
                f"{key!r} is not a parameter of {name} ({cls.__name__}); its parameters are "
                f"{', '.join(sorted(accepted))}."
            )
        current = accepted[key]
        # JSON has one number type; a whole float where the estimator expects an int means that int.
        if isinstance(value, float) and value.is_integer() and isinstance(current, int):
            value = int(value)
        overrides[key] = value
    estimator.set_params(**overrides)
    return estimator


def build_pipeline(config: DatasetConfig, kinds: Sequence[FeatureKind]) -> Pipeline:
    """Column transformer + estimator over ``prepare_features`` output; ``kinds`` in its column order.

    Columns are selected by position: skl2onnx maps position ``i`` to the ``i``-th ONNX input (one per
    feature), so the graph's inputs can carry ONNX-safe names while the frame keeps the dataset's.
    """
    estimator = make_estimator(config)
    linear = resolve_estimator(config) in LINEAR_ESTIMATORS
    numeric = [position for position, kind in enumerate(kinds) if kind == "numeric"]
    categorical = [position for position, kind in enumerate(kinds) if kind == "categorical"]
    if not numeric and not categorical:
        raise TrainingFailed("There are no feature columns to train on.")
    numeric_steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True))
    ]
    if linear:
        numeric_steps.append(("scale", StandardScaler()))
    transformers: list[tuple[str, Any, list[int]]] = []
    if numeric:
        transformers.append(("numeric", Pipeline(numeric_steps), numeric))
    if categorical:
        encoder: OneHotEncoder | OrdinalEncoder
        if linear:
            encoder = OneHotEncoder(
                handle_unknown="ignore",
                max_categories=MAX_CATEGORIES,
                sparse_output=False,
                dtype=np.float64,
            )
        else:
            encoder = OrdinalEncoder(
                handle_unknown="use_encoded_value", unknown_value=UNKNOWN_CODE, dtype=np.float64
            )
        transformers.append(("categorical", encoder, categorical))
    features = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
    return Pipeline([("features", features), (MODEL_STEP, estimator)])


def regression_targets(series: pd.Series) -> np.ndarray[Any, np.dtype[np.float64]]:
    values = pd.to_numeric(series.dropna(), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if not bool(np.isfinite(values).all()):
        raise TrainingFailed(f"Column {series.name!r} (target) must hold finite numbers for regression.")
    return values


def build_signature(
    train_rows: pd.DataFrame,
    config: DatasetConfig,
    feature_columns: Sequence[str],
    all_columns: Sequence[str],
    classes: Sequence[ClassLabel] | None,
) -> Signature:
    schema = infer_schema(train_rows[list(feature_columns)])
    names = input_names(feature_columns)
    specs: list[FeatureSpec] = []
    for column in feature_columns:
        kind = kind_of(schema[column])
        categories: list[str] | None = None
        if kind == "categorical":
            seen = train_rows[column].dropna().astype(str).unique()
            categories = sorted(str(value) for value in seen if value != MISSING_CATEGORY)
        specs.append(
            FeatureSpec(
                name=column,
                input_name=names[column],
                kind=kind,
                dtype=schema[column],
                nullable=True,
                categories=categories,
            )
        )
    classification = config.task == "classification"
    used = {*feature_columns, config.target}
    return Signature(
        task=config.task,
        target=config.target,
        features=specs,
        classes=list(classes) if classes is not None else None,
        label_output="label" if classification else "variable",
        probabilities_output="probabilities" if classification else None,
        value_output=None if classification else "variable",
        excluded_columns=[column for column in all_columns if column not in used],
    )


def train(df: pd.DataFrame, config: DatasetConfig, feature_columns: Sequence[str]) -> TrainedModel:
    """Fit the configured pipeline on ``df`` and score it on a seeded holdout (see module docstring)."""
    started = time.perf_counter()
    columns = [str(column) for column in df.columns]
    if config.target not in columns:
        raise TrainingFailed(f"Column {config.target!r} (target) is not in the data.")
    absent = [column for column in feature_columns if column not in columns]
    if absent:
        raise TrainingFailed(f"Feature column {absent[0]!r} is not in the data.")
    features = [column for column in feature_columns if column != config.target]
    if not features:
        raise TrainingFailed("There are no feature columns to train on.")
    resolve_estimator(config)

    labelled = df[df[config.target].notna()].reset_index(drop=True)
    if config.task == "classification":
        y = class_labels(labelled[config.target])
    else:
        y = regression_targets(labelled[config.target])
    train_index, holdout_index = holdout_split(y, config)
    train_rows = labelled.iloc[train_index].reset_index(drop=True)
    holdout = labelled.iloc[holdout_index].reset_index(drop=True)
    y_train, y_holdout = y[train_index], y[holdout_index]

    signature = build_signature(train_rows, config, features, columns, classes=None)
    x_train = prepare_features(train_rows, signature)
    pipeline = build_pipeline(config, feature_kinds(signature))

    search_summary: dict[str, Any] | None = None
    search_started = time.perf_counter()
    if config.search.enabled:
        best, search_summary = _search(pipeline, x_train, y_train, config)
        pipeline.set_params(**best)
    search_s = time.perf_counter() - search_started

    fit_started = time.perf_counter()
    _fit(pipeline, x_train, y_train)
    _float32_imputation(pipeline)
    fit_s = time.perf_counter() - fit_started

    classes: list[ClassLabel] | None = None
    if config.task == "classification":
        classes = [_plain(label) for label in pipeline.classes_]
        signature = signature.model_copy(update={"classes": classes})

    x_holdout = prepare_features(holdout, signature)
    predicted, scores = _score(pipeline, config.task, x_holdout, y_holdout, classes)
    baseline = _baseline_metrics(config.task, y_train, y_holdout, classes)
    estimator = pipeline.named_steps[MODEL_STEP]
    params = {"estimator": resolve_estimator(config), **_json_params(estimator.get_params(deep=False))}
    return TrainedModel(
        pipeline=pipeline,
        signature=signature,
        holdout=holdout,
        metrics=scores,
        baseline_metrics=baseline,
        params=params,
        durations={
            "search_s": round(search_s, 3),
            "fit_s": round(fit_s, 3),
            "total_s": round(time.perf_counter() - started, 3),
        },
        versions=library_versions(),
        rows={
            "input": len(df),
            "missing_target": len(df) - len(labelled),
            "used": len(labelled),
            "train": len(train_rows),
            "holdout": len(holdout),
        },
        search=search_summary,
        holdout_predictions=predicted,
    )


def holdout_split(
    y: np.ndarray[Any, Any], config: DatasetConfig
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Train and holdout row positions of the labelled rows, seeded (the split ``train`` scores on)."""
    rows = len(y)
    if rows < 2:
        raise TrainingFailed(f"{rows} row(s) with a target; training needs at least 2.")
    index = np.arange(rows)
    stratify = None
    if config.task == "classification":
        # Classes as codes in sorted order, as np.unique numbers them, so the split is the one the labels
        # give, without sorting every label as a Python object (pd.factorize hashes).
        codes = pd.factorize(y, sort=True)[0]
        counts = np.bincount(codes)
        holdout_rows = math.ceil(rows * config.holdout_fraction)
        if counts.min() >= 2 and counts.size <= holdout_rows <= rows - counts.size:
            stratify = codes
    train_index, holdout_index = train_test_split(
        index, test_size=config.holdout_fraction, random_state=config.seed, stratify=stratify
    )
    if config.task == "classification" and np.unique(codes[train_index]).size < 2:
        raise TrainingFailed("The training split has a single class; classification needs at least 2.")
    return np.sort(train_index), np.sort(holdout_index)


def _float32_imputation(pipeline: Pipeline) -> None:
    """Make imputed values float32 numbers, as ONNX's Imputer uses them.

    A median often sits exactly on a histogram-gradient-boosting threshold (both come from the same
    quantiles); imputed in float64 by scikit-learn and in float32 by ONNX, such rows would take
    different branches (docs/performance.md, "Figures behind design choices"). With the statistic
    a float32 number and thresholds rounded down to float32 (``convert.to_onnx``), both agree.
    """
    features = pipeline.named_steps["features"]
    for _, transformer, _ in features.transformers_:
        steps = transformer.steps if isinstance(transformer, Pipeline) else [("", transformer)]
        for _, step in steps:
            if isinstance(step, SimpleImputer) and step.statistics_.dtype.kind == "f":
                step.statistics_ = step.statistics_.astype(np.float32).astype(np.float64)


def _fit(pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray[Any, Any]) -> None:
    try:
        with warnings.catch_warnings():
            # Convergence chatter from linear solvers is not actionable for the user.
            warnings.simplefilter("ignore", category=UserWarning)
            pipeline.fit(x, y)
    except InvalidParameterError as exc:
        raise ConfigError(f"Invalid estimator parameter in the dataset config: {_sentence(exc)}") from exc
    except (ValueError, TypeError, MemoryError) as exc:
        raise TrainingFailed(f"Training failed: {_sentence(exc)}") from exc


def _search(
    pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray[Any, Any], config: DatasetConfig
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Randomized search over the estimator's space; the defaults are candidate 0, so it cannot lose."""
    name = resolve_estimator(config)
    space = {
        f"{MODEL_STEP}__{key}": value
        for key, value in _SEARCH_SPACES.get(name, {}).items()
        if key not in config.params
    }
    metric = config.promotion_metric
    if metric not in _SCORERS:
        raise ConfigError(f"Unknown promotion metric {metric!r}; use one of {', '.join(sorted(_SCORERS))}.")
    summary: dict[str, Any] = {"metric": metric, "tried": 0, "candidates": [], "stopped": None}
    if not space:
        summary["stopped"] = f"{name} has no hyperparameters to search"
        return {}, summary
    folds = config.search.cv
    if config.task == "classification":
        _, counts = np.unique(y, return_counts=True)
        folds = min(folds, int(counts.min()))
    if folds < 2:
        summary["stopped"] = "a class has too few rows for cross-validation"
        return {}, summary
    splitter = (
        StratifiedKFold(folds, shuffle=True, random_state=config.seed)
        if config.task == "classification"
        else KFold(folds, shuffle=True, random_state=config.seed)
    )
    sampler = ParameterSampler(space, n_iter=config.search.n_iter, random_state=config.seed)
    candidates: list[dict[str, Any]] = [{}, *sampler]
    started = time.perf_counter()
    best_score, best = -math.inf, {}
    for candidate in candidates:
        if summary["tried"] and time.perf_counter() - started > config.search.time_budget_s:
            summary["stopped"] = f"time budget of {config.search.time_budget_s:g} s reached"
            break
        trial = clone(pipeline).set_params(**candidate)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=UserWarning)
                scores = cross_val_score(
                    trial, x, y, cv=splitter, scoring=_SCORERS[metric], error_score="raise"
                )
        except InvalidParameterError as exc:
            raise ConfigError(f"Invalid estimator parameter in the dataset config: {_sentence(exc)}") from exc
        except ValueError as exc:
            raise TrainingFailed(f"Hyperparameter search failed: {_sentence(exc)}") from exc
        score = float(np.mean(scores))
        summary["tried"] += 1
        summary["candidates"].append(
            {
                "params": _json_params({k.removeprefix(f"{MODEL_STEP}__"): v for k, v in candidate.items()}),
                "score": score,
            }
        )
        if score > best_score:
            best_score, best = score, candidate
    summary["best_params"] = _json_params({k.removeprefix(f"{MODEL_STEP}__"): v for k, v in best.items()})
    # Scorers are "greater is better"; report the metric itself (errors are negated by sklearn).
    summary["best_cv_score"] = -best_score if _SCORERS[metric].startswith("neg_") else best_score
    summary["folds"] = folds
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return best, summary


def _score(
    pipeline: Pipeline,
    task: Task,
    x: pd.DataFrame,
    y: np.ndarray[Any, Any],
    classes: Sequence[ClassLabel] | None,
) -> tuple[np.ndarray[Any, Any], dict[str, float]]:
    """The holdout's predictions and metrics."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        if task == "classification":
            proba = pipeline.predict_proba(x)
            # What predict() returns for every classifier offered (as the parity gate takes it), without
            # a second pass over the trees.
            predicted = np.asarray(pipeline.classes_).take(proba.argmax(axis=1))
        else:
            proba, predicted = None, pipeline.predict(x)
    return predicted, metrics(task, y, predicted, proba, classes)


def _baseline_metrics(
    task: Task,
    y_train: np.ndarray[Any, Any],
    y_holdout: np.ndarray[Any, Any],
    classes: Sequence[ClassLabel] | None,
) -> dict[str, float]:
    placeholder_x = np.zeros((len(y_train), 1))
    holdout_x = np.zeros((len(y_holdout), 1))
    if task == "classification":
        # Fitted on the labels' codes in sorted order (the order of its classes_), not on the labels.
        codes, sorted_labels = pd.factorize(y_train, sort=True)
        dummy = DummyClassifier(strategy="prior").fit(placeholder_x, codes)
        predicted = np.asarray(sorted_labels)[dummy.predict(holdout_x)]
        return metrics(task, y_holdout, predicted, dummy.predict_proba(holdout_x), classes)
    regressor = DummyRegressor(strategy="mean").fit(placeholder_x, y_train)
    return metrics(task, y_holdout, regressor.predict(holdout_x), None, None)


def metrics(
    task: Task,
    y_true: np.ndarray[Any, Any] | Sequence[Any],
    y_pred: np.ndarray[Any, Any] | Sequence[Any],
    proba: np.ndarray[Any, Any] | None,
    classes: Sequence[ClassLabel] | None,
) -> dict[str, float]:
    """Holdout metrics; a metric undefined on this holdout (e.g. AUC with one class present) is left out.

    ``y_true`` may be the raw target column: classification labels are normalized with ``class_labels``
    on both sides. Classification: ``accuracy``, ``f1_macro``, ``log_loss`` and ``roc_auc`` (binary, or one-vs-rest
    macro average); ``proba`` columns follow ``classes``. Regression: ``rmse``, ``mae``, ``r2``.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true values but {len(y_pred)} predictions.")
    if len(y_true) == 0:
        return {}
    if task == "regression":
        truth_f = np.asarray(y_true, dtype=np.float64).ravel()
        predicted_f = np.asarray(y_pred, dtype=np.float64).ravel()
        scores = {
            "rmse": float(root_mean_squared_error(truth_f, predicted_f)),
            "mae": float(mean_absolute_error(truth_f, predicted_f)),
        }
        if len(truth_f) >= 2 and np.unique(truth_f).size > 1:
            scores["r2"] = float(r2_score(truth_f, predicted_f))
        return scores
    # Raw target values (a holdout's column: floats, booleans) and model labels compare once normalized.
    truth = class_labels(pd.Series(np.asarray(y_true, dtype=object)))
    predicted = class_labels(pd.Series(np.asarray(y_pred, dtype=object).ravel()))
    labels = list(class_labels(pd.Series(list(classes), dtype=object))) if classes is not None else []
    truth, predicted, labels = _coded(truth, predicted, labels)
    scores = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1_macro": float(f1_score(truth, predicted, average="macro", zero_division=0)),
    }
    if proba is None or classes is None:
        return scores
    probabilities = np.asarray(proba, dtype=np.float64)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    present = set(truth.tolist())
    if present <= set(labels):
        scores["log_loss"] = float(log_loss(truth, probabilities, labels=labels))
        if len(labels) == 2 and len(present) == 2:
            scores["roc_auc"] = float(roc_auc_score(truth == labels[1], probabilities[:, 1]))
        elif len(labels) > 2 and present == set(labels):
            scores["roc_auc"] = float(
                roc_auc_score(truth, probabilities, multi_class="ovr", average="macro", labels=labels)
            )
    return scores


def _coded(
    truth: np.ndarray[Any, Any], predicted: np.ndarray[Any, Any], labels: list[Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], list[Any]]:
    """Text labels as integer codes numbered in sorted label order, or the labels as they are.

    scikit-learn's metrics sort the labels they see; codes in the same order give every metric the same
    value, without sorting each row's label as a Python object.
    """
    if truth.dtype.kind != "O" and predicted.dtype.kind != "O":
        return truth, predicted, labels
    try:
        order = sorted({*truth.tolist(), *predicted.tolist(), *labels})
    except TypeError:  # labels that do not sort: scikit-learn refuses them as they are
        return truth, predicted, labels
    code = {label: position for position, label in enumerate(order)}
    return (
        np.fromiter((code[label] for label in truth.tolist()), dtype=np.int64, count=len(truth)),
        np.fromiter((code[label] for label in predicted.tolist()), dtype=np.int64, count=len(predicted)),
        [code[label] for label in labels],
    )


def _check_metric(metric: str) -> None:
    if metric not in HIGHER_IS_BETTER and metric not in LOWER_IS_BETTER:
        known = ", ".join(sorted(HIGHER_IS_BETTER | LOWER_IS_BETTER))
        raise ConfigError(f"Unknown metric {metric!r}; use one of {known}.")


def higher_is_better(metric: str) -> bool:
    _check_metric(metric)
    return metric in HIGHER_IS_BETTER


def better(metric: str, a: float, b: float) -> bool:
    """Whether score ``a`` is strictly better than ``b`` on ``metric``."""
    return a > b if higher_is_better(metric) else a < b


def is_worse(metric: str, candidate: float, production: float, tolerance: float) -> bool:
    """Whether the candidate is worse than production by more than ``tolerance``.

    Absolute for the bounded scores (accuracy, f1_macro, roc_auc, r2); relative to production's value
    for the errors (rmse, mae, log_loss), whose scale is the target's.
    """
    if higher_is_better(metric):
        return candidate < production - tolerance
    return candidate > production + tolerance * abs(production)


def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in _VERSIONED:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def _plain(value: Any) -> ClassLabel:
    plain = value.item() if isinstance(value, np.generic) else value
    if isinstance(plain, bool | int | float | str):
        return plain
    return str(plain)


def _json_params(params: Mapping[str, Any]) -> dict[str, Any]:
    safe: dict[str, Any] = {}
    for key, value in params.items():
        plain = value.item() if isinstance(value, np.generic) else value
        if plain is None or isinstance(plain, bool | int | str):
            safe[key] = plain
        elif isinstance(plain, float):
            safe[key] = plain if math.isfinite(plain) else str(plain)
        else:
            safe[key] = repr(plain)
    return safe


def _sentence(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if text.endswith(".") else f"{text}."
