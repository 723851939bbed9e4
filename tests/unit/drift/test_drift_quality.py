"""Live quality from ground truth: the join, accuracy, RMSE and the thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from mlops.drift.capture_reader import CapturedTraffic
from mlops.drift.quality import live_quality
from mlops.labels import NO_LABEL, Labels


def _traffic(predictions: list[object], dtype: type = str) -> CapturedTraffic:
    rows = len(predictions)
    return CapturedTraffic(
        features={},
        predictions=np.array(predictions, dtype=dtype),
        request_ids=[f"r{i // 2}" for i in range(rows)],
        row_numbers=[i % 2 for i in range(rows)],
    )


def test_accuracy_joins_on_request_and_row() -> None:
    traffic = _traffic(["1", "0"] * 20)  # 40 rows: r0..r19, rows 0 and 1
    truth = Labels(by_row={(f"r{i}", 0): 1 for i in range(20)} | {(f"r{i}", 1): 1.0 for i in range(10)})
    quality = live_quality("classification", 3, traffic, truth, {"accuracy": 0.8})
    assert quality is not None
    assert quality.labelled_rows == 30 and quality.value == pytest.approx(20 / 30)
    assert quality.threshold == pytest.approx(0.75) and quality.degraded
    assert quality.metric_name == "LiveAccuracy" and quality.version == 3


def test_rmse_for_regressors() -> None:
    traffic = _traffic([float(i) for i in range(40)], dtype=float)
    truth = Labels(by_row={(f"r{i // 2}", i % 2): str(i + 2) for i in range(40)})
    quality = live_quality("regression", 1, traffic, truth, {"rmse": 1.0})
    assert quality is not None and quality.metric == "rmse"
    assert (
        quality.value == pytest.approx(2.0) and quality.threshold == pytest.approx(1.25) and quality.degraded
    )


def test_too_few_or_no_labels() -> None:
    traffic = _traffic(["a"] * 10)
    assert live_quality("classification", 1, traffic, Labels(), {}) is None
    few = live_quality("classification", 1, traffic, Labels(by_row={("r0", 0): "a"}), {"accuracy": 0.9})
    assert few is not None and few.value is None and few.labelled_rows == 1 and not few.degraded


def test_the_result_counts_the_label_lines_the_reader_skipped() -> None:
    traffic = _traffic(["1"] * 20)
    labels = Labels(by_row={(f"r{i // 2}", i % 2): "1" for i in range(20)})
    labels.skipped[NO_LABEL] += 3
    quality = live_quality("classification", 1, traffic, labels, {"accuracy": 0.9})
    assert quality is not None and quality.value == 1.0
    assert quality.skipped_labels == {NO_LABEL: 3}
