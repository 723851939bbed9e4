"""A big upload to production on the embedded stack: wall time, each stage's share, memory growth.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_big_upload.py --mib 1024

Writes a CSV of about ``--mib`` MiB (the mixed columns of bench_ingest: floats, integers, categories,
a boolean, a binary label) to a temporary file, starts the embedded stack as `mlops local up` does
(moto's server on a free port, the functions in-process), uploads the file with a multipart upload and
follows its run to production. Reports each stage's time and share of the wall time, and the resident
memory of the stack's process (its growth from before the upload to its peak, sampled every 0.2 s)
and, separately, the peak of the SageMaker jobs' child processes, which on AWS run on their own
instances. Run by hand, never in tests.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from boto3.s3.transfer import S3Transfer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlops import aws
from mlops.config import DatasetConfig
from mlops.entities import Run
from mlops.registry import Registry

ROWS_PER_CHUNK = 200_000


def write_csv(path: Path, mib: int, seed: int = 0) -> int:
    """About ``mib`` MiB of mixed columns, written chunk by chunk; the number of rows."""
    rng = np.random.default_rng(seed)
    rows = 0
    with path.open("w") as file:
        while file.tell() < mib * 1024 * 1024:
            n = ROWS_PER_CHUNK
            frame = pd.DataFrame({f"f{i}": rng.normal(size=n).round(4) for i in range(8)})
            for i in range(4):
                frame[f"i{i}"] = rng.integers(0, 1000, size=n)
            for i in range(6):
                frame[f"c{i}"] = rng.choice(["red", "green", "blue", "amber", "violet", "teal"], size=n)
            frame["flag"] = rng.random(n) < 0.5
            logit = frame["f0"] + 0.5 * frame["f1"] - frame["f3"] + (frame["c0"] == "red") * 0.8
            frame["label"] = np.where(logit + rng.normal(scale=0.5, size=n) > 0, "yes", "no")
            frame.to_csv(file, index=False, header=rows == 0)
            rows += n
    return rows


def rss_mib(pid: int | str = "self") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children() -> list[int]:
    own = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "stat").read_text().split(") ", 1)[1].split()[1] == own:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                continue
    return found


class MemoryWatch:
    def __init__(self) -> None:
        self.stack_peak = rss_mib()
        self.child_peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.stack_peak = max(self.stack_peak, rss_mib())
            self.child_peak = max([self.child_peak, *(rss_mib(pid) for pid in children())])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    from mlops.local.embedded import configure_environment, start_embedded

    with tempfile.TemporaryDirectory(prefix="bench-big-") as tmp:
        path = Path(tmp) / "big.csv"
        rows = write_csv(path, args.mib)
        size = path.stat().st_size
        print(f"CSV: {size / 1024**2:,.0f} MiB, {rows:,} rows x 20 columns")
        port = free_port()
        configure_environment(f"http://127.0.0.1:{port}", port)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        embedded = start_embedded()
        try:
            registry = Registry(embedded.stack.outputs["MetadataTableName"])
            bucket = embedded.stack.outputs["DataBucketName"]
            registry.datasets.put_config("big", DatasetConfig(target="label"))
            before = rss_mib()
            watch = MemoryWatch()
            started = time.perf_counter()
            key = "raw/big/big.csv"
            S3Transfer(aws.s3()).upload_file(str(path), bucket, key)
            uploaded = time.perf_counter() - started
            etag = aws.s3().head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
            run = follow(registry, bucket, key, etag, args.timeout)
            wall = time.perf_counter() - started
            watch.stop()
        finally:
            embedded.runtime.shutdown()
            server.stop()
    report(run, wall, uploaded, before, watch)


def follow(registry: Registry, bucket: str, key: str, etag: str, timeout: float) -> Run:
    deadline = time.monotonic() + timeout
    while (raw := registry.datasets.get_raw_object("big", bucket, key, etag)) is None or not raw.run_id:
        time.sleep(0.1)
    while (run := registry.runs.get_run(raw.run_id)).status == "RUNNING":
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return run


def report(run: Run, wall: float, uploaded: float, before: float, watch: MemoryWatch) -> None:
    print(f"run {run.run_id}: {run.status} {run.failed_stage or ''} {run.error or ''}")
    print(f"{'step':<28}{'seconds':>9}{'share':>8}")
    print(f"{'upload (multipart PUT)':<28}{uploaded:>9.1f}{uploaded / wall:>8.1%}")
    inside = uploaded
    for stage in run.stages:
        seconds = stage.duration_s or 0.0
        inside += seconds
        backend = stage.summary.get("backend", "")
        print(f"{stage.name + (f' ({backend})' if backend else ''):<28}{seconds:>9.1f}{seconds / wall:>8.1%}")
    print(f"{'orchestration (rest)':<28}{wall - inside:>9.1f}{(wall - inside) / wall:>8.1%}")
    print(f"{'upload to production':<28}{wall:>9.1f}")
    print(
        f"stack process RSS: {before:,.0f} MiB before, peak {watch.stack_peak:,.0f} MiB "
        f"(growth {watch.stack_peak - before:,.0f} MiB); SageMaker job processes' peak {watch.child_peak:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
