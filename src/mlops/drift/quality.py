"""Live model quality from ground truth uploaded after the fact.

Labels arrive later than predictions (a churn is known a month on). They are uploaded once, under
``ground-truth/<model>/`` in the capture bucket, and read by ``mlops.labels`` (layout, formats and
the deprecated ``feedback/`` alias are described there); the rollout's ground-truth guardrail reads
the same objects. Each drift evaluation reads the label objects written since its window started (the
reader's clock margin before it), joins them to the window's captured predictions of the production
version on (request_id, row), and computes accuracy (classifiers; labels compared in one canonical
spelling, so 1, "1" and 1.0 are the same class) or RMSE (regressors). With at least
``MIN_LABELLED_ROWS`` joined rows the value is a CloudWatch metric (``LiveAccuracy`` / ``LiveRmse``,
dimensions Model and Version) with its own alarm, ``mlops-<stage>-quality-<model>``: it notifies, it does not
retrain (its name is outside the drift alarm prefix the retraining rule matches). The alarm fires
when accuracy falls more than ``ACCURACY_DROP`` below the holdout accuracy of the version, or RMSE
rises above ``RMSE_RATIO`` times its holdout RMSE. Label lines the reader skipped are counted per
reason in ``skipped_labels``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mlops.drift.baseline import class_key
from mlops.drift.capture_reader import CapturedTraffic
from mlops.labels import Labels

MIN_LABELLED_ROWS = 20
ACCURACY_DROP = 0.05
RMSE_RATIO = 1.25

QualityMetric = Literal["accuracy", "rmse"]


class QualityResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int
    metric: QualityMetric
    value: float | None
    labelled_rows: int
    min_rows: int = MIN_LABELLED_ROWS
    holdout: float | None = None
    threshold: float | None = None
    degraded: bool = False
    # Label lines the reader could not use, per reason (mlops.labels).
    skipped_labels: dict[str, int] = Field(default_factory=dict)

    @property
    def sufficient(self) -> bool:
        return self.value is not None

    @property
    def metric_name(self) -> str:
        return "LiveAccuracy" if self.metric == "accuracy" else "LiveRmse"


def live_quality(
    task: str,
    version: int,
    traffic: CapturedTraffic,
    labels: Labels,
    holdout_metrics: dict[str, float],
    min_rows: int = MIN_LABELLED_ROWS,
) -> QualityResult | None:
    """Accuracy or RMSE of the captured predictions that have a label; None when none has one."""
    metric: QualityMetric = "accuracy" if task == "classification" else "rmse"
    predicted: list[Any] = []
    actual: list[Any] = []
    for index, key in enumerate(zip(traffic.request_ids, traffic.row_numbers, strict=True)):
        label = labels.by_row.get(key)
        if label is not None:
            predicted.append(traffic.predictions[index])
            actual.append(label)
    if not actual:
        return None
    holdout = holdout_metrics.get(metric)
    threshold: float | None = None
    if holdout is not None:
        threshold = holdout - ACCURACY_DROP if metric == "accuracy" else holdout * RMSE_RATIO

    def result(value: float | None, rows: int, degraded: bool = False) -> QualityResult:
        return QualityResult(
            version=version,
            metric=metric,
            value=value,
            labelled_rows=rows,
            min_rows=min_rows,
            holdout=holdout,
            threshold=threshold,
            degraded=degraded,
            skipped_labels=dict(labels.skipped),
        )

    if len(actual) < min_rows:
        return result(None, len(actual))
    if metric == "accuracy":
        hits = [str(p) == class_key(a) for p, a in zip(predicted, actual, strict=True)]
        value = float(np.mean(hits))
        return result(value, len(actual), threshold is not None and value < threshold)
    pairs = [(float(p), _float(a)) for p, a in zip(predicted, actual, strict=True)]
    errors = np.array([p - a for p, a in pairs if math.isfinite(p) and math.isfinite(a)])
    if errors.size < min_rows:
        return result(None, int(errors.size))
    value = float(np.sqrt(np.mean(errors**2)))
    return result(value, len(actual), threshold is not None and value > threshold)


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
