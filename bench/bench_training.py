"""Benchmark of one pipeline run's ML work on a generated CSV (run by hand, not in tests).

    .venv/bin/python bench/bench_training.py [--rows 100000] [--estimator auto]

Generates a classification CSV (15 numeric and 5 categorical features with missing values, 20
columns plus the target), then times each step the pipeline runs: read_csv_bytes, infer_schema +
profile, to_parquet_bytes, validate, train, to_onnx and check_parity. In the same run it times what a
user would write by hand, for ratios: ``pandas.read_csv`` for reading, a bare
``HistGradientBoostingClassifier`` (native categorical support, no holdout scoring) for training, and
scikit-learn's ``predict_proba`` against onnxruntime for scoring the holdout.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from mlops.config import DatasetConfig
from mlops.ml import convert, dataset, training, validation
from mlops.ml.features import prepare_features

T = TypeVar("T")
# CPU seconds per step beside wall time: on a shared machine the wall clock also measures the others.
CPU_SECONDS: dict[str, float] = {}
NUMERIC = 15
CATEGORICAL = 5


def generate_csv(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    logit = np.zeros(rows)
    for i in range(NUMERIC):
        values = rng.normal(0, 1, rows) * 10 ** (i % 4) + 100 * (i % 3)
        columns[f"num_{i:02d}"] = values.round(4)
        logit += (0.6 / (1 + i)) * (values - values.mean()) / values.std()
    for i in range(CATEGORICAL):
        levels = np.array([f"c{i}_{k}" for k in range(3 + 8 * i)])
        picks = rng.integers(0, len(levels), rows)
        columns[f"cat_{i}"] = levels[picks]
        logit += np.where(picks % 3 == 0, 0.5, -0.2)
    frame = pd.DataFrame(columns)
    for name in list(frame.columns)[::3]:
        frame.loc[rng.random(rows) < 0.05, name] = np.nan
    frame["label"] = np.where(logit + rng.logistic(0, 1, rows) > 0, "positive", "negative")
    return frame.to_csv(index=False).encode()


def timed(timings: dict[str, float], name: str, step: Callable[[], T]) -> T:
    started, cpu = time.perf_counter(), time.process_time()
    result = step()
    timings[name] = time.perf_counter() - started
    CPU_SECONDS[name] = time.process_time() - cpu
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--estimator", default="auto")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    data = generate_csv(args.rows, args.seed)
    config = DatasetConfig.model_validate({"target": "label", "estimator": args.estimator})
    timings: dict[str, float] = {}

    frame = timed(timings, "read_csv_bytes", lambda: dataset.read_csv_bytes(data))
    timed(timings, "infer_schema + profile", lambda: dataset.profile(frame, dataset.infer_schema(frame)))
    timed(timings, "to_parquet_bytes", lambda: dataset.to_parquet_bytes(frame))
    report = timed(timings, "validate", lambda: validation.validate(frame, config, None))
    model = timed(timings, "train", lambda: training.train(frame, config, report.feature_columns))
    onnx_bytes = timed(timings, "to_onnx", lambda: convert.to_onnx(model.pipeline, model.signature))
    parity = timed(
        timings,
        "check_parity",
        lambda: convert.check_parity(onnx_bytes, model.pipeline, model.holdout, model.signature),
    )
    total = sum(timings.values())

    # What a user would do by hand, in the same run.
    plain_read = _seconds(lambda: pd.read_csv(io.BytesIO(data)))
    train_rows = frame.head(model.rows["train"])  # as many rows as train() fitted on
    categorical = {name: "category" for name in frame.columns if name.startswith("cat_")}
    x_plain = train_rows.drop(columns="label").astype(categorical)
    plain_fit = _seconds(
        lambda: HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0).fit(
            x_plain, train_rows["label"]
        )
    )
    prepared = prepare_features(model.holdout, model.signature)
    runner = convert.session(onnx_bytes)
    sklearn_score = _seconds(lambda: model.pipeline.predict_proba(prepared))
    onnx_score = _seconds(lambda: convert.onnx_predict(runner, model.signature, model.holdout))

    print(
        f"rows {args.rows}, columns {len(frame.columns)}, CSV {len(data) / 1e6:.1f} MB, "
        f"estimator {model.estimator}"
    )
    print(f"{'step':<24}{'wall s':>10}{'share':>9}{'cpu s':>10}")
    for name, seconds in timings.items():
        print(f"{name:<24}{seconds:>10.2f}{seconds / total:>9.1%}{CPU_SECONDS[name]:>10.2f}")
    print(f"{'total':<24}{total:>10.2f}{'':>9}{sum(CPU_SECONDS.values()):>10.2f}")
    conversion = timings["to_onnx"] + timings["check_parity"]
    print(f"conversion + parity share of total: {conversion / total:.1%}")
    print()
    print(
        f"read_csv_bytes / pandas.read_csv: {timings['read_csv_bytes'] / plain_read:.2f}x "
        f"({plain_read:.2f} s)"
    )
    print(
        f"train() / bare HistGradientBoostingClassifier fit: {timings['train'] / plain_fit:.2f}x "
        f"({plain_fit:.2f} s; train fit alone {model.durations['fit_s']:.2f} s)"
    )
    print(
        f"onnxruntime / scikit-learn scoring {len(model.holdout)} holdout rows: "
        f"{onnx_score / sklearn_score:.2f}x ({onnx_score:.3f} s vs {sklearn_score:.3f} s)"
    )
    print()
    print(f"holdout metrics {_rounded(model.metrics)}; baseline {_rounded(model.baseline_metrics)}")
    print(f"ONNX model {len(onnx_bytes) / 1e3:.0f} kB; parity: {parity.message}")


def _seconds(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 4) for key, value in values.items()}


if __name__ == "__main__":
    main()
