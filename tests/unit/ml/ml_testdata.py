"""Small generated datasets for the ML tests: numeric, integer, boolean and categorical features
with missing values, an identifier, and a target for each task."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlops.config import DatasetConfig

# Few trees keep every estimator's training well under a second.
FAST_PARAMS: dict[str, dict[str, Any]] = {
    "auto": {"max_iter": 25},
    "hist_gradient_boosting": {"max_iter": 25},
    "random_forest": {"n_estimators": 15, "n_jobs": 1},
    "logistic_regression": {},
    "linear_regression": {},
    "ridge": {},
}
CLASSIFIERS = ("hist_gradient_boosting", "random_forest", "logistic_regression")
REGRESSORS = ("hist_gradient_boosting", "random_forest", "linear_regression", "ridge")


def make_frame(rows: int = 400, task: str = "binary", seed: int = 0) -> pd.DataFrame:
    """Features that carry signal, with gaps: what an uploaded CSV parses into."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50_000, 15_000, rows).round(2)
    age = rng.integers(18, 80, rows).astype(float)
    score = rng.normal(0, 1, rows)
    member = rng.random(rows) < 0.4
    color = rng.choice(["red", "green", "blue", "yellow"], rows)
    city = rng.choice([f"city {i}" for i in range(40)], rows)
    signal = (income - 50_000) / 15_000 + 0.8 * score + 1.2 * member + np.where(color == "red", 1.0, 0.0)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + rows),
            "income": income,
            "age": age,
            "score": score,
            "member": pd.array(member, dtype="boolean"),
            "color": pd.Series(color, dtype="str"),
            "city": pd.Series(city, dtype="str"),
        }
    )
    frame.loc[rng.random(rows) < 0.08, "income"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "age"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "member"] = pd.NA
    frame.loc[rng.random(rows) < 0.07, "color"] = np.nan
    noisy = signal + rng.normal(0, 0.5, rows)
    if task == "binary":
        frame["churned"] = np.where(noisy > np.median(noisy), "yes", "no")
    elif task == "multiclass":
        frame["tier"] = np.digitize(noisy, np.quantile(noisy, [0.33, 0.66])).astype(np.int64)
    else:
        frame["spend"] = 100.0 + 40.0 * noisy
    return frame


TARGETS = {"binary": "churned", "multiclass": "tier", "regression": "spend"}
FEATURES = ["income", "age", "score", "member", "color", "city"]


def config_for(task: str, estimator: str = "auto", **changes: Any) -> DatasetConfig:
    return DatasetConfig(
        target=TARGETS[task],
        task="regression" if task == "regression" else "classification",
        estimator=estimator,  # type: ignore[arg-type]
        params=FAST_PARAMS[estimator],
        **changes,
    )
