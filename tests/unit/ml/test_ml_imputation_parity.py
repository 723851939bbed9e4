"""Median imputation must not break ONNX parity for gradient boosting (a median is often a threshold)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlops.config import DatasetConfig
from mlops.ml.convert import check_parity, to_onnx
from mlops.ml.training import train


def test_imputed_median_on_a_threshold_keeps_parity() -> None:
    rng = np.random.default_rng(0)
    rows = 20_000
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(4)})
    for i in range(2):
        frame.loc[rng.random(rows) < 0.05, f"x{i}"] = np.nan
    signal = frame["x0"].fillna(0) + frame["x1"].fillna(0) - frame["x2"]
    frame["label"] = np.where(signal + rng.normal(scale=0.5, size=rows) > 0, "yes", "no")
    model = train(frame, DatasetConfig(target="label"), ["x0", "x1", "x2", "x3"])
    report = check_parity(
        to_onnx(model.pipeline, model.signature), model.pipeline, model.holdout, model.signature
    )
    assert report.passed, report.message
    assert report.prob_within_tol_fraction == 1.0, report.message
