"""Generated data for the drift tests: a mixed-type dataset whose columns can be shifted one by one."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlops.drift.baseline import build_baseline

NUMERIC = ("age", "income", "score", "visits", "flag")
CATEGORICAL = ("plan", "city", "device")
PLANS = ("free", "basic", "pro", "enterprise")
CITIES = tuple(f"city-{i}" for i in range(20))


def make_columns(rng: np.random.Generator, rows: int, shift: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """One row per customer; each name in ``shift`` moves that column's distribution."""
    plan_p = [0.2, 0.3, 0.3, 0.2] if "plan" in shift else [0.5, 0.3, 0.15, 0.05]
    return {
        "age": rng.normal(48.0 if "age" in shift else 40.0, 10.0, rows),
        "income": rng.lognormal(10.6 if "income" in shift else 10.0, 0.5, rows),
        "score": rng.uniform(0.3 if "score" in shift else 0.0, 1.0, rows),
        "visits": rng.poisson(5 if "visits" in shift else 3, rows).astype(np.float64),
        "flag": rng.integers(0, 2, rows).astype(np.float64),
        "plan": rng.choice(PLANS, rows, p=plan_p),
        "city": rng.choice(CITIES, rows),
        "device": rng.choice(("ios", "android", "web"), rows, p=[0.4, 0.4, 0.2]),
    }


def predictions(rng: np.random.Generator, rows: int, churn: float = 0.2) -> np.ndarray:
    return rng.choice(np.array(["churn", "stay"]), rows, p=[churn, 1.0 - churn])


def baseline_of(columns: dict[str, np.ndarray], preds: np.ndarray | None = None) -> dict[str, Any]:
    return build_baseline(
        {name: columns[name] for name in NUMERIC if name in columns},
        {name: columns[name] for name in CATEGORICAL if name in columns},
        preds,
        "classification",
        ["churn", "stay"],
    )
