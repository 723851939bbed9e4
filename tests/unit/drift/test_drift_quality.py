"""Live quality from ground truth: the join, accuracy, RMSE and the thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from mlops.drift.capture_reader import CapturedTraffic
from mlops.drift.quality import GroundTruth, live_quality, read_csv_labels, read_json_labels


def _traffic(predictions: list[object], dtype: type = str) -> CapturedTraffic:
    rows = len(predictions)
    return CapturedTraffic(
        features={},
        predictions=np.array(predictions, dtype=dtype),
        request_ids=[f"r{i // 2}" for i in range(rows)],
        row_numbers=[i % 2 for i in range(rows)],
    )


def test_labels_from_csv_and_json_lines() -> None:
    truth = GroundTruth()
    read_csv_labels("request_id,row,label\nr0,0,1\nr0,1,0\n,0,1\nr1,x,1\nr2,,1\n", truth)
    read_json_labels('{"request_id": "r3", "row": 1, "label": true}\nnot json\n{"request_id": "r4"}\n', truth)
    assert truth.labels == {("r0", 0): "1", ("r0", 1): "0", ("r2", 0): "1", ("r3", 1): True}
    assert truth.malformed == 4
    headless = GroundTruth()
    read_csv_labels("id,target\na,1\n", headless)
    assert headless.labels == {} and headless.malformed == 1


def test_accuracy_joins_on_request_and_row() -> None:
    traffic = _traffic(["1", "0"] * 20)  # 40 rows: r0..r19, rows 0 and 1
    truth = GroundTruth(labels={(f"r{i}", 0): 1 for i in range(20)} | {(f"r{i}", 1): 1.0 for i in range(10)})
    quality = live_quality("classification", 3, traffic, truth, {"accuracy": 0.8})
    assert quality is not None
    assert quality.labelled_rows == 30 and quality.value == pytest.approx(20 / 30)
    assert quality.threshold == pytest.approx(0.75) and quality.degraded
    assert quality.metric_name == "LiveAccuracy" and quality.version == 3


def test_rmse_for_regressors() -> None:
    traffic = _traffic([float(i) for i in range(40)], dtype=float)
    truth = GroundTruth(labels={(f"r{i // 2}", i % 2): str(i + 2) for i in range(40)})
    quality = live_quality("regression", 1, traffic, truth, {"rmse": 1.0})
    assert quality is not None and quality.metric == "rmse"
    assert (
        quality.value == pytest.approx(2.0) and quality.threshold == pytest.approx(1.25) and quality.degraded
    )


def test_too_few_or_no_labels() -> None:
    traffic = _traffic(["a"] * 10)
    assert live_quality("classification", 1, traffic, GroundTruth(), {}) is None
    few = live_quality("classification", 1, traffic, GroundTruth(labels={("r0", 0): "a"}), {"accuracy": 0.9})
    assert few is not None and few.value is None and few.labelled_rows == 1 and not few.degraded
