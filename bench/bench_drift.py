"""Benchmark of drift evaluation (run by hand, never in tests).

    .venv/bin/python bench/bench_drift.py [--rows 100000 1000000] [--evidently-python PATH]

A generated table of 20 features (12 numeric of several shapes, 8 categorical with 3 to 60
categories; six features shifted in the current traffic). The baseline is built from 100,000
training rows and serialized as the training step stores it (``baseline.json``). For each current
size the measured time is the whole evaluation as the drift function runs it: the baseline parsed
from its JSON bytes, PSI + Kolmogorov-Smirnov on every numeric feature, chi-squared +
Jensen-Shannon on every categorical one, the prediction test, the verdict.

Against, in the same run:
- ``scipy.stats.ks_2samp`` on the same numeric features (baseline sample vs current values): our KS
  must give the same statistic and a p-value within 5e-3; the times of both are printed.
- Evidently's ``DataDriftPreset`` on the same data (training frame as reference, current frame),
  where it can be installed beside the project (it needs pandas < 3, the project has pandas 3):

      python -m venv /tmp/evidently-venv
      /tmp/evidently-venv/bin/pip install evidently "pandas<3"
      .venv/bin/python bench/bench_drift.py --evidently-python /tmp/evidently-venv/bin/python

  The frames are handed over as one ``.npz`` file; the time measured there is the report run only
  (frames already built). Without ``--evidently-python`` (or ``EVIDENTLY_PYTHON``) that comparison
  is skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from mlops.config import DriftConfig
from mlops.drift import stats
from mlops.drift.baseline import build_baseline, load_baseline
from mlops.drift.evaluate import evaluate

TRAINING_ROWS = 100_000
NUMERIC = 12
CATEGORICAL = 8
SHIFTED = ("n0", "n2", "n3", "n7", "c1", "c6")
REPEATS = 3

EVIDENTLY_SCRIPT = r"""
import json, sys, time, warnings
import numpy as np
import pandas as pd
warnings.filterwarnings("ignore")
try:  # Evidently >= 0.7
    from evidently import Report
    from evidently.presets import DataDriftPreset
    NEW_API = True
except ImportError:  # the legacy API
    from evidently.report import Report
    from evidently.metric_preset import DataDriftPreset
    NEW_API = False
import evidently

data = np.load(sys.argv[1], allow_pickle=False)
def frame(prefix):
    return pd.DataFrame({k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)})
reference, current = frame("ref__"), frame("cur__")
for column in reference.columns:
    if reference[column].dtype.kind == "U":
        reference[column] = reference[column].astype(object)
        current[column] = current[column].astype(object)
start = time.perf_counter()
report = Report([DataDriftPreset()])
result = report.run(current, reference) if NEW_API else report.run(reference_data=reference, current_data=current)
if not NEW_API:
    result = report
result.json()
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "version": evidently.__version__, "pandas": pd.__version__}))
"""


def generate(rng: np.random.Generator, rows: int, shifted: bool) -> dict[str, np.ndarray]:
    columns: dict[str, np.ndarray] = {}
    for i in range(NUMERIC):
        moved = shifted and f"n{i}" in SHIFTED
        shape = i % 4
        if shape == 0:
            values = rng.normal(10.0 + i + (1.5 if moved else 0.0), 3.0, rows)
        elif shape == 1:
            values = rng.lognormal(3.0, 0.6 * (1.4 if moved else 1.0), rows)
        elif shape == 2:
            values = rng.poisson(4 + (2 if moved else 0), rows).astype(np.float64)
        else:
            values = rng.uniform(0.0, 100.0 + (30.0 if moved else 0.0), rows)
        values[rng.random(rows) < 0.02] = np.nan
        columns[f"n{i}"] = values
    for i in range(CATEGORICAL):
        moved = shifted and f"c{i}" in SHIFTED
        size = (3, 5, 8, 12, 20, 30, 45, 60)[i]
        weights = np.linspace(1.0, 3.0 if moved else 2.0, size) ** (2.0 if moved else 1.0)
        labels = np.array([f"c{i}-v{k}" for k in range(size)])
        columns[f"c{i}"] = labels[rng.choice(size, rows, p=weights / weights.sum())]
    return columns


def predictions(rng: np.random.Generator, rows: int, share: float) -> np.ndarray:
    return rng.choice(np.array(["yes", "no"]), rows, p=[share, 1 - share])


def best_of(repeats: int, run: Any) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def evidently_seconds(
    python: str, training: dict[str, np.ndarray], current: dict[str, np.ndarray]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "frames.npz"
        arrays: dict[str, Any] = {f"ref__{k}": v for k, v in training.items()}
        arrays.update({f"cur__{k}": v for k, v in current.items()})
        np.savez(path, **arrays)
        script = Path(folder) / "evidently_run.py"
        script.write_text(EVIDENTLY_SCRIPT)
        out = subprocess.run(
            [python, str(script), str(path)], capture_output=True, text=True, timeout=3600, check=False
        )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="current sizes")
    parser.add_argument("--evidently-python", default=os.environ.get("EVIDENTLY_PYTHON", ""))
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    training = generate(rng, TRAINING_ROWS, shifted=False)
    start = time.perf_counter()
    document = build_baseline(
        {k: v for k, v in training.items() if k.startswith("n")},
        {k: v for k, v in training.items() if k.startswith("c")},
        predictions(rng, 20_000, 0.3),
        "classification",
        ["yes", "no"],
    )
    blob = json.dumps(document).encode()
    print(
        f"baseline: {TRAINING_ROWS:,} training rows, {NUMERIC} numeric + {CATEGORICAL} categorical features"
    )
    print(f"  built and serialized in {time.perf_counter() - start:.2f} s, {len(blob) / 1e6:.1f} MB of JSON")
    config = DriftConfig()

    for rows in args.rows:
        measure(rows, blob, training, rng, config, args.evidently_python)


def full_evaluation(
    blob: bytes, current: dict[str, np.ndarray], preds: np.ndarray, config: DriftConfig
) -> Any:
    return evaluate(load_baseline(json.loads(blob)), current, preds, config)


def ks_ours(samples: dict[str, np.ndarray], values: dict[str, np.ndarray]) -> list[stats.KsResult]:
    return [stats.ks_2samp(samples[k], np.sort(values[k]), presorted=True) for k in samples]


def ks_scipy(samples: dict[str, np.ndarray], values: dict[str, np.ndarray]) -> list[Any]:
    return [scipy_stats.ks_2samp(samples[k], values[k]) for k in samples]


def measure(
    rows: int,
    blob: bytes,
    training: dict[str, np.ndarray],
    rng: np.random.Generator,
    config: DriftConfig,
    evidently_python: str,
) -> None:
    current = generate(rng, rows, shifted=True)
    current_predictions = predictions(rng, rows, 0.4)
    seconds, result = best_of(REPEATS, partial(full_evaluation, blob, current, current_predictions, config))
    print(f"\ncurrent traffic: {rows:,} rows")
    print(
        f"  full evaluation (baseline JSON parse + PSI + KS + chi-squared + JS): {seconds:.3f} s "
        f"= {rows / seconds:,.0f} rows/s; verdict {result.verdict}, drifted {sorted(result.drifted_features)}"
    )

    profile = load_baseline(json.loads(blob))
    numeric = [k for k in current if k.startswith("n")]
    samples = {k: profile.numeric[k].sample for k in numeric}
    values = {k: current[k][~np.isnan(current[k])].astype(np.float32) for k in numeric}
    ours_s, ours_r = best_of(REPEATS, partial(ks_ours, samples, values))
    theirs_s, theirs_r = best_of(REPEATS, partial(ks_scipy, samples, values))
    same = all(a.statistic == b.statistic for a, b in zip(ours_r, theirs_r, strict=True))
    worst = max(abs(a.pvalue - b.pvalue) for a, b in zip(ours_r, theirs_r, strict=True))
    print(
        f"  KS on {len(numeric)} numeric features: ours {ours_s:.3f} s, scipy.stats.ks_2samp {theirs_s:.3f} s "
        f"(ratio {theirs_s / ours_s:.2f}x); statistics identical: {same}; max p-value difference {worst:.2e}"
    )

    if not evidently_python:
        print("  Evidently: skipped (pass --evidently-python PATH to a Python with evidently and pandas<3)")
        return
    evidently = evidently_seconds(evidently_python, training, current)
    if "error" in evidently:
        print(f"  Evidently: failed: {evidently['error']}")
        return
    print(
        f"  Evidently {evidently['version']} DataDriftPreset (pandas {evidently['pandas']}): "
        f"{evidently['seconds']:.2f} s = {rows / evidently['seconds']:,.0f} rows/s; "
        f"ours is {evidently['seconds'] / seconds:.1f}x faster"
    )


if __name__ == "__main__":
    main()
