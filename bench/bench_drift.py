"""Benchmark of drift evaluation (run by hand, never in tests).

    .venv/bin/python bench/bench_drift.py [--rows 100000 1000000] [--evidently-python PATH]
    .venv/bin/python bench/bench_drift.py --capture [--rows 100000 1000000]

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

``--capture`` measures the drift function's whole read instead, each size in a fresh process: the
current traffic is written as the inference function captures it (JSON Lines, one object per
predicted row, 100 rows a request, objects of about 64 MiB as Firehose buffers them) under
``capture/<model>/<YYYY-MM-DD>/`` of a moto server in this process; a child process then times
``CaptureReader.read`` over the window plus the evaluation. Peak RSS is the child's high-water mark
over that read and evaluation (``/proc/self/status`` VmHWM, reset through ``/proc/self/clear_refs``
once its imports are done).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from mlops.config import DriftConfig
from mlops.drift import stats
from mlops.drift.baseline import build_baseline, load_baseline
from mlops.drift.capture_reader import CaptureReader
from mlops.drift.evaluate import evaluate
from mlops.serving.capture_writer import capture_lines
from mlops.signature import FeatureSpec, Signature

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
    parser.add_argument("--capture", action="store_true", help="read the traffic from captured S3 objects")
    parser.add_argument("--capture-child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.capture_child:
        endpoint, baseline = args.capture_child.split(" ", 1)
        read_capture(endpoint, Path(baseline))
        return
    if args.capture:
        for rows in args.rows:
            measure_capture(rows)
        return

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


CAPTURE_MODEL = "churn"
CAPTURE_VERSION = 3
CAPTURE_BUCKET = "bench-capture"
ROWS_PER_REQUEST = 100
OBJECT_BYTES = 64 * 1024 * 1024
CAPTURE_START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def baseline_blob(rng: np.random.Generator, training: dict[str, np.ndarray]) -> bytes:
    document = build_baseline(
        {k: v for k, v in training.items() if k.startswith("n")},
        {k: v for k, v in training.items() if k.startswith("c")},
        predictions(rng, 20_000, 0.3),
        "classification",
        ["yes", "no"],
    )
    return json.dumps(document).encode()


def capture_signature() -> Signature:
    specs = [
        FeatureSpec(name=f"n{i}", input_name=f"n{i}", kind="numeric", dtype="float") for i in range(NUMERIC)
    ]
    specs += [
        FeatureSpec(name=f"c{i}", input_name=f"c{i}", kind="categorical", dtype="string")
        for i in range(CATEGORICAL)
    ]
    return Signature(task="classification", target="churned", features=specs)


def write_capture(folder: Path, rng: np.random.Generator, rows: int, start: datetime) -> None:
    """The traffic as the inference function captures it, one file per capture object."""
    current = generate(rng, rows, shifted=True)
    labels = predictions(rng, rows, 0.4)
    names = list(current)
    pending: list[bytes] = []
    size = objects = 0

    def flush() -> None:
        nonlocal pending, size, objects
        (folder / f"part-{objects:05d}").write_bytes(b"".join(pending))
        objects, pending, size = objects + 1, [], 0

    for first in range(0, rows, ROWS_PER_REQUEST):
        stop = min(first + ROWS_PER_REQUEST, rows)
        columns = [current[name][first:stop].tolist() for name in names]
        features = [
            {
                name: None if isinstance(v, float) and v != v else v
                for name, v in zip(names, values, strict=True)
            }
            for values in zip(*columns, strict=True)
        ]
        chosen = labels[first:stop].tolist()
        lines = capture_lines(
            f"request-{first:09d}",
            CAPTURE_MODEL,
            CAPTURE_VERSION,
            start + timedelta(milliseconds=first),
            features,
            chosen,
            [[0.6, 0.4] if p == "no" else [0.4, 0.6] for p in chosen],
        )
        for line in lines:
            pending.append(line + b"\n")
            size += len(line) + 1
        if size >= OBJECT_BYTES:
            flush()
    if pending:
        flush()


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def measure_capture(rows: int) -> None:
    """Capture ``rows`` into a moto server of this process, then read them in a fresh process."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    rng = np.random.default_rng(0)
    training = generate(rng, TRAINING_ROWS, shifted=False)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = s3_client(endpoint)
        s3.create_bucket(Bucket=CAPTURE_BUCKET)
        day = CAPTURE_START.date().isoformat()
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            (folder / "baseline.json").write_bytes(baseline_blob(rng, training))
            (folder / "objects").mkdir()
            write_capture(folder / "objects", rng, rows, CAPTURE_START)
            for path in sorted((folder / "objects").iterdir()):
                key = f"capture/{CAPTURE_MODEL}/{day}/{path.name}"
                s3.put_object(Bucket=CAPTURE_BUCKET, Key=key, Body=path.read_bytes())
            command = [sys.executable, __file__, "--capture-child", f"{endpoint} {folder / 'baseline.json'}"]
            subprocess.run(command, check=True)
    finally:
        server.stop()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_capture(endpoint: str, baseline: Path) -> None:
    """The drift function's read and evaluation, timed, with this process's peak RSS."""
    blob = baseline.read_bytes()
    reader = CaptureReader(CAPTURE_BUCKET, client=s3_client(endpoint))
    until = CAPTURE_START + timedelta(hours=23)
    server = os.getppid()  # the moto server runs in the parent's threads
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident set
    before = peak_rss_mib()
    server_cpu, began_cpu, began = process_cpu_seconds(server), time.process_time(), time.perf_counter()
    traffic = reader.read(CAPTURE_MODEL, CAPTURE_VERSION, capture_signature(), CAPTURE_START, until)
    read_s, read_cpu = time.perf_counter() - began, time.process_time() - began_cpu
    read_peak = peak_rss_mib()
    result = evaluate(load_baseline(json.loads(blob)), traffic.features, traffic.predictions, DriftConfig())
    seconds, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    server_cpu = process_cpu_seconds(server) - server_cpu
    peak = peak_rss_mib()
    load = os.getloadavg()[0]
    assert traffic.malformed == 0, traffic.malformed
    # Moto's share apart: the same objects' bytes fetched alone, as the reader fetches them.
    keys = reader.list_keys(CAPTURE_MODEL, CAPTURE_START, until)
    fetch_server, fetch_began = process_cpu_seconds(server), time.perf_counter()
    fetched = sum(len(block) for block in reader.blocks(keys))
    fetch_s, fetch_server = time.perf_counter() - fetch_began, process_cpu_seconds(server) - fetch_server
    print(
        f"captured traffic: {traffic.rows:,} rows in {traffic.objects} objects\n"
        f"  read from S3 {read_s:.2f} s + evaluation {seconds - read_s:.2f} s = {seconds:.2f} s end to end; "
        f"peak RSS {peak:,.0f} MiB (before the read {before:,.0f} MiB, after it {read_peak:,.0f} MiB); "
        f"verdict {result.verdict}, drifted {sorted(result.drifted_features)}\n"
        f"  CPU: this process {cpu:.2f} s (read {read_cpu:.2f} s, evaluation {cpu - read_cpu:.2f} s), "
        f"the moto server {server_cpu:.2f} s; load average {load:.2f} at the end\n"
        f"  the objects' bytes alone ({fetched / 2**20:,.0f} MiB, GetObject on moto, no parsing): "
        f"{fetch_s:.2f} s, the moto server {fetch_server:.2f} s CPU"
    )


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
