"""Live model quality from ground truth uploaded after the fact.

Labels arrive later than predictions (a churn is known a month on). Upload them to the capture
bucket under ``ground-truth/<model>/`` (any object name below it), as

- CSV with a header naming ``request_id``, ``label`` and optionally ``row`` (default 0: the first row
  of the request), or
- JSON Lines: ``{"request_id": "...", "row": 0, "label": ...}`` per line.

``request_id`` and ``row`` are those of the captured record (the inference API answers with the
request id in its ``x-request-id`` header and every capture line carries it). Each drift evaluation
reads the label objects written since its window started (a minute's slack), joins them to the window's captured
predictions of the production version, and computes accuracy (classifiers; labels compared in one
canonical spelling, so 1, "1" and 1.0 are the same class) or RMSE (regressors). With at least
``MIN_LABELLED_ROWS`` joined rows the value is a CloudWatch metric (``LiveAccuracy`` / ``LiveRmse``,
dimensions Model and Version) with its own alarm, ``mlops-<stage>-quality-<model>``: it notifies, it does not
retrain (its name is outside the drift alarm prefix the retraining rule matches). The alarm fires
when accuracy falls more than ``ACCURACY_DROP`` below the holdout accuracy of the version, or RMSE
rises above ``RMSE_RATIO`` times its holdout RMSE.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from mlops import aws
from mlops.drift.baseline import class_key
from mlops.drift.capture_reader import CapturedTraffic, iter_records

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

GROUND_TRUTH_PREFIX = "ground-truth/"
MIN_LABELLED_ROWS = 20
ACCURACY_DROP = 0.05
RMSE_RATIO = 1.25
# S3 keeps LastModified to the second, and clocks differ a little: an object a moment older still counts.
LAST_MODIFIED_SLACK = timedelta(minutes=1)

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

    @property
    def sufficient(self) -> bool:
        return self.value is not None

    @property
    def metric_name(self) -> str:
        return "LiveAccuracy" if self.metric == "accuracy" else "LiveRmse"


@dataclass
class GroundTruth:
    labels: dict[tuple[str, int], Any] = field(default_factory=dict)
    objects: int = 0
    malformed: int = 0


class GroundTruthReader:
    def __init__(self, bucket: str, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def s3(self) -> S3Client:
        return self._client or aws.s3()

    def read(self, model: str, since: datetime) -> GroundTruth:
        """Labels from the objects under ``ground-truth/<model>/`` written at or after ``since``."""
        truth = GroundTruth()
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{GROUND_TRUTH_PREFIX}{model}/"):
            for item in page.get("Contents", []):
                if item["LastModified"] < since - LAST_MODIFIED_SLACK:
                    continue
                body = self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                text = body.decode("utf-8", errors="replace")
                truth.objects += 1
                if item["Key"].lower().endswith(".csv"):
                    read_csv_labels(text, truth)
                else:
                    read_json_labels(text, truth)
        return truth


def _add(truth: GroundTruth, request_id: object, row: object, label: object) -> None:
    try:
        row_number = int(row) if row not in (None, "") else 0  # type: ignore[call-overload]
    except (TypeError, ValueError):
        truth.malformed += 1
        return
    if not isinstance(request_id, str) or not request_id or label is None or label == "":
        truth.malformed += 1
        return
    truth.labels[(request_id, row_number)] = label


def read_csv_labels(text: str, truth: GroundTruth) -> None:
    reader = csv.DictReader(io.StringIO(text))
    fields = {name.strip() for name in reader.fieldnames or []}
    if not {"request_id", "label"} <= fields:
        truth.malformed += 1
        return
    for record in reader:
        cleaned = {(k or "").strip(): (v or "").strip() for k, v in record.items()}
        _add(truth, cleaned.get("request_id"), cleaned.get("row"), cleaned.get("label"))


def read_json_labels(text: str, truth: GroundTruth) -> None:
    for record in iter_records(text):
        if record is None:
            truth.malformed += 1
            continue
        _add(truth, record.get("request_id"), record.get("row", 0), record.get("label"))


def live_quality(
    task: str,
    version: int,
    traffic: CapturedTraffic,
    truth: GroundTruth,
    holdout_metrics: dict[str, float],
    min_rows: int = MIN_LABELLED_ROWS,
) -> QualityResult | None:
    """Accuracy or RMSE of the captured predictions that have a label; None when none has one."""
    metric: QualityMetric = "accuracy" if task == "classification" else "rmse"
    predicted: list[Any] = []
    actual: list[Any] = []
    for index, key in enumerate(zip(traffic.request_ids, traffic.row_numbers, strict=True)):
        label = truth.labels.get(key)
        if label is not None:
            predicted.append(traffic.predictions[index])
            actual.append(label)
    if not actual:
        return None
    holdout = holdout_metrics.get(metric)
    threshold: float | None = None
    if holdout is not None:
        threshold = holdout - ACCURACY_DROP if metric == "accuracy" else holdout * RMSE_RATIO
    if len(actual) < min_rows:
        return QualityResult(
            version=version,
            metric=metric,
            value=None,
            labelled_rows=len(actual),
            min_rows=min_rows,
            holdout=holdout,
            threshold=threshold,
        )
    if metric == "accuracy":
        hits = [str(p) == class_key(a) for p, a in zip(predicted, actual, strict=True)]
        value = float(np.mean(hits))
        degraded = threshold is not None and value < threshold
    else:
        pairs = [(float(p), _float(a)) for p, a in zip(predicted, actual, strict=True)]
        errors = np.array([p - a for p, a in pairs if math.isfinite(p) and math.isfinite(a)])
        if errors.size < min_rows:
            return QualityResult(
                version=version,
                metric=metric,
                value=None,
                labelled_rows=int(errors.size),
                min_rows=min_rows,
                holdout=holdout,
                threshold=threshold,
            )
        value = float(np.sqrt(np.mean(errors**2)))
        degraded = threshold is not None and value > threshold
    return QualityResult(
        version=version,
        metric=metric,
        value=value,
        labelled_rows=len(actual),
        min_rows=min_rows,
        holdout=holdout,
        threshold=threshold,
        degraded=degraded,
    )


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
