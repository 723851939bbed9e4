"""Ingest's peak memory and throughput on a big generated CSV, next to ``pandas.read_csv`` (run by hand).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_ingest.py [--mib 100] [--mib 1024]

For each size a CSV of mixed numeric and categorical columns (20 columns: 8 floats, 4 integers,
6 categories, a boolean, a float label) is generated into a temporary directory. Each measurement runs
in a fresh interpreter, so its peak resident set (``ru_maxrss``) is its own:

- ``ingest``: what the ingest function does with an upload once S3 has returned it, in the same
  domain calls: the object's bytes, their sha256 (``content_sha256``), ``read_csv_bytes``,
  ``infer_schema``, ``profile`` and the canonical Parquet bytes (``to_parquet_bytes``);
- ``pandas``: ``pandas.read_csv(path)`` alone, what a user would run to look at the file.

Printed per size: seconds, MiB/s of CSV, peak RSS, and ingest's peak RSS as a multiple of the file and
of pandas'.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHUNK_ROWS = 200_000
MIB = 1024**2


def generate_csv(path: Path, target_bytes: int, seed: int = 0) -> int:
    """Append chunks of generated rows until the file holds ``target_bytes``; returns the row count."""
    rng = np.random.default_rng(seed)
    rows = 0
    with path.open("w") as out:
        header = True
        while out.tell() < target_bytes:
            n = CHUNK_ROWS
            frame = pd.DataFrame(
                {
                    **{f"f{i}": rng.normal(size=n).round(5) for i in range(8)},
                    **{f"n{i}": rng.integers(0, 10_000, size=n) for i in range(4)},
                    **{
                        f"c{i}": rng.choice([f"cat_{k}" for k in range(5 + 10 * i)], size=n) for i in range(6)
                    },
                    "flag": rng.random(size=n) < 0.3,
                    "label": rng.normal(size=n).round(4),
                }
            )
            frame.to_csv(out, index=False, header=header)
            header = False
            rows += n
    return rows


def measure_ingest(path: Path) -> None:
    from mlops.ml import dataset as ds

    data = path.read_bytes()
    ds.content_sha256(data)
    frame = ds.read_csv_bytes(data)
    schema = ds.infer_schema(frame)
    ds.profile(frame, schema)
    ds.to_parquet_bytes(frame)


def measure_pandas(path: Path) -> None:
    pd.read_csv(path)


MODES = {"ingest": measure_ingest, "pandas": measure_pandas}


def worker(mode: str, path: Path) -> None:
    started = time.perf_counter()
    MODES[mode](path)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024}))


def run_mode(mode: str, path: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", mode, str(path)], check=True, capture_output=True, text=True
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, action="append", help="CSV size in MiB (repeatable; default 100)")
    parser.add_argument("--worker", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]))
        return
    print(f"{'size':>9} {'rows':>10} {'mode':>7} {'seconds':>8} {'MiB/s':>7} {'peak RSS':>10} {'x file':>7}")
    for mib in args.mib or [100]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.csv"
            rows = generate_csv(path, mib * MIB)
            size_mib = path.stat().st_size / MIB
            results = {mode: run_mode(mode, path) for mode in MODES}
            for mode, result in results.items():
                print(
                    f"{size_mib:>5.0f} MiB {rows:>10,} {mode:>7} {result['seconds']:>8.1f} "
                    f"{size_mib / result['seconds']:>7.1f} {result['peak_mib']:>6.0f} MiB "
                    f"{result['peak_mib'] / size_mib:>6.1f}x"
                )
            ratio = results["ingest"]["peak_mib"] / results["pandas"]["peak_mib"]
            print(f"          ingest's peak is {ratio:.1f}x pandas.read_csv's on the same file")


if __name__ == "__main__":
    main()
