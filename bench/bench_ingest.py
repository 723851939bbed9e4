"""Ingest's peak memory and throughput on big generated CSVs, next to ``pandas.read_csv`` (run by hand).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_ingest.py [--mib 100] [--mib 1024] [--mib 2048]

For each size a CSV of mixed numeric and categorical columns (20 columns: 8 floats, 4 integers,
6 categories, a boolean, a float label) is generated into a temporary directory (the first 256 MiB;
the rows then repeat to the size asked), deleted afterwards.
Each measurement runs in a child process; its peak resident set is the child's own high-water mark
(``VmHWM`` of its address space after ``exec``, imports included). The child's ``ru_maxrss`` (from
``os.wait4``, as ``RUSAGE_CHILDREN`` gives it) is not used: Linux carries the forked parent's resident
set into it, and the parent here holds the generated CSV's frames.

- ``stream``: streaming ingest's domain work (``mlops.ml.csvstream.stream_csv``): read, sha256, type,
  profile, and write the canonical Parquet, here to a local file instead of a multipart upload
  (which adds its part buffer, ``mlops.storage.PART_BYTES``);
- ``whole``: the previous whole-file path on the same file (the object's bytes, ``content_sha256``,
  ``read_csv_bytes``, ``infer_schema``, ``profile``, ``to_parquet_bytes``), up to ``--whole-max-mib``
  (it needs about 6x the file in memory);
- ``validate``: the whole-frame validation of the Parquet the stream wrote (``read_parquet_bytes`` +
  ``validate``), up to the same bound;
- ``vstream``: the validation stage's path on the same Parquet: copied to a temporary file while its
  sha256 is checked (as ``Storage.download_verified`` does from S3), then
  ``mlops.ml.validation_stream.validate_parquet`` batch by batch;
- ``pandas``: ``pandas.read_csv(path)`` alone, what a user would run to look at the file.

Printed per size and mode: seconds, MiB/s of CSV, CPU seconds and MiB/s per CPU-second, peak RSS.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHUNK_ROWS = 200_000
GENERATED_BYTES = 256 * 1024**2
MIB = 1024**2


def generate_csv(path: Path, target_bytes: int, seed: int = 0) -> int:
    """Append chunks of generated rows until the file holds ``target_bytes``; returns the row count.

    Past ``GENERATED_BYTES`` the generated rows repeat (formatting CSV with pandas is the slow part).
    """
    rng = np.random.default_rng(seed)
    rows = 0
    with path.open("w") as out:
        header = True
        while out.tell() < min(target_bytes, GENERATED_BYTES):
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
    generated = rows
    with path.open("rb") as source:
        source.readline()
        body = source.read()
    with path.open("ab") as out:
        while out.tell() < target_bytes:
            out.write(body)
            rows += generated
    return rows


class FileOutput(io.FileIO):
    """The Parquet destination: a local file, removed when abandoned."""

    def abort(self) -> None:
        self.close()
        Path(str(self.name)).unlink(missing_ok=True)


def measure_stream(path: Path) -> None:
    from mlops.ml.csvstream import stream_csv

    stream_csv(
        lambda: path.open("rb"),
        lambda: FileOutput(path.with_suffix(".parquet"), "w"),
        max_bytes=path.stat().st_size + 1,
    )


def measure_whole(path: Path) -> None:
    from mlops.ml import dataset as ds

    data = path.read_bytes()
    ds.content_sha256(data)
    frame = ds.read_csv_bytes(data)
    schema = ds.infer_schema(frame)
    ds.profile(frame, schema)
    ds.to_parquet_bytes(frame)


def measure_validate(path: Path) -> None:
    from mlops.config import DatasetConfig
    from mlops.ml import dataset as ds
    from mlops.ml.validation import validate

    frame = ds.read_parquet_bytes(path.with_suffix(".parquet").read_bytes())
    validate(frame, DatasetConfig(target="label", task="regression"), None)


def measure_validate_stream(path: Path) -> None:
    import hashlib

    from mlops.config import DatasetConfig
    from mlops.ml.validation_stream import validate_parquet

    parquet = path.with_suffix(".parquet")
    with parquet.open("rb") as body, tempfile.TemporaryFile() as canonical:
        digest = hashlib.sha256()
        while chunk := body.read(1 << 20):
            digest.update(chunk)
            canonical.write(chunk)
        canonical.seek(0)
        validate_parquet(canonical, DatasetConfig(target="label", task="regression"), None)


def measure_pandas(path: Path) -> None:
    pd.read_csv(path)


MODES = {
    "stream": measure_stream,
    "whole": measure_whole,
    "validate": measure_validate,
    "vstream": measure_validate_stream,
    "pandas": measure_pandas,
}


def run_mode(mode: str, path: Path) -> dict[str, float]:
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, __file__, "--worker", mode, str(path)],
        env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    report = json.loads(child.stdout.read().strip().splitlines()[-1])
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{mode} failed with exit code {child.returncode}")
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_mib": report["peak_kib"] / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, action="append", help="CSV size in MiB (repeatable; default 100)")
    parser.add_argument("--whole-max-mib", type=int, default=1024, help="largest file for whole and validate")
    parser.add_argument("--worker", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        MODES[args.worker[0]](Path(args.worker[1]))
        status = Path("/proc/self/status").read_text()
        peak_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
        print(json.dumps({"peak_kib": peak_kib}))
        return
    print(
        f"{'size':>9} {'rows':>11} {'mode':>8} {'seconds':>8} {'MiB/s':>7} {'CPU s':>7} "
        f"{'MiB/CPU-s':>9} {'peak RSS':>10}"
    )
    results: dict[str, dict[str, dict[str, float]]] = {}
    for mib in args.mib or [100]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.csv"
            rows = generate_csv(path, mib * MIB)
            size_mib = path.stat().st_size / MIB
            modes = ["stream", "vstream", "pandas"]
            if mib <= args.whole_max_mib:
                modes += ["validate", "whole"]
            for mode in modes:
                result = run_mode(mode, path)
                results.setdefault(f"{mib}", {})[mode] = result
                print(
                    f"{size_mib:>5.0f} MiB {rows:>11,} {mode:>8} {result['seconds']:>8.1f} "
                    f"{size_mib / result['seconds']:>7.1f} {result['cpu_seconds']:>7.1f} "
                    f"{size_mib / result['cpu_seconds']:>9.1f} {result['peak_mib']:>6.0f} MiB",
                    flush=True,
                )
            ratio = results[f"{mib}"]["stream"]["peak_mib"] / results[f"{mib}"]["pandas"]["peak_mib"]
            print(f"          stream's peak is {ratio:.2f}x pandas.read_csv's on the same file", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
