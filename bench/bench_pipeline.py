"""Upload-to-production wall time on the embedded stack, per stage (run by hand, not in tests).

    .venv/bin/python bench/bench_pipeline.py [--rows 100000] [--warm 3] [--cold-functions]

Generates a CSV (15 numeric + 5 categorical columns, some missing values, a binary target), starts
the embedded stack as `mlops local up` does (moto's server on a free port, the functions in-process
and initialized before the first upload, unless --cold-functions), uploads a file and follows its run
to production, once right after the start and then --warm times. Prints each stage's time, the orchestration
overhead (wall time from the S3 PUT to the run's end minus the time spent inside the stages) and,
for comparison in the same run, what a user would otherwise do by hand: read the CSV with pandas and
fit the same scikit-learn pipeline in a script, right after each upload, on the same file.
"""

from __future__ import annotations

import argparse
import io
import logging
import socket
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlops import aws
from mlops.cli.connection import Context
from mlops.config import DatasetConfig
from mlops.entities import Run, utcnow
from mlops.registry import Registry

# As often as `mlops upload --wait` polls: the requests a waiting user sends land in the stack's process.
POLL_S = Context.poll_interval_s


def generate(rows: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(15)})
    for i in range(5):
        frame[f"c{i}"] = rng.choice(["red", "green", "blue", "amber", "violet", "teal"], size=rows)
    for i in range(3):
        frame.loc[rng.random(rows) < 0.03, f"x{i}"] = np.nan
    logit = frame["x0"].fillna(0) + 0.5 * frame["x1"].fillna(0) - frame["x3"] + (frame["c0"] == "red") * 0.8
    frame["label"] = np.where(logit + rng.normal(scale=0.5, size=rows) > 0, "yes", "no")
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def by_hand(body: bytes) -> float:
    """What a user would do without the stack: pandas + the same pipeline, fitted in a script."""
    from mlops.ml.training import build_pipeline

    started = time.perf_counter()
    frame = pd.read_csv(io.BytesIO(body))
    features = frame.drop(columns=["label"])
    kinds = {
        c: ("numeric" if pd.api.types.is_numeric_dtype(features[c]) else "categorical")
        for c in features.columns
    }
    pipeline = build_pipeline(DatasetConfig(target="label"), list(kinds.values()))  # type: ignore[arg-type]
    pipeline.fit(features.astype({c: str for c, k in kinds.items() if k == "categorical"}), frame["label"])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--warm", type=int, default=3, help="uploads after the first one (new data each)")
    parser.add_argument(
        "--cold-functions",
        action="store_true",
        help="leave the functions' init phase to the first upload (on-demand Lambda), not to the stack's start",
    )
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    from mlops.local.embedded import configure_environment, start_embedded

    port = free_port()
    configure_environment(f"http://127.0.0.1:{port}", port)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    embedded = start_embedded()
    init_s = 0.0
    if not args.cold_functions:  # as `mlops local up` does before it prints ready
        started = time.perf_counter()
        embedded.runtime.initialize()
        init_s = time.perf_counter() - started
    results = []
    try:
        registry = Registry(embedded.stack.outputs["MetadataTableName"])
        bucket = embedded.stack.outputs["DataBucketName"]
        # First upload: right after the stack's start, as `mlops local up` leaves it (the functions
        # initialized, each process's first calls still ahead), or with --cold-functions every function
        # cold (its imports run in its init phase, which the wall time includes and no stage does).
        # Then --warm uploads of new data.
        # By hand right after each upload, on the same file: on a shared machine the load changes
        # between runs, so each ratio compares neighbours in time.
        first = "cold" if args.cold_functions else "first"
        labels = [first, *(f"warm{n}" for n in range(1, args.warm + 1))]
        for seed, label in enumerate(labels):
            body = generate(args.rows, seed)
            run, wall = upload_and_follow(registry, bucket, f"bench-{label}", body)
            results.append((label, body, run, wall, by_hand(body)))
    finally:
        embedded.runtime.shutdown()
        server.stop()
    if not args.cold_functions:
        print(f"functions' init phase at the stack's start (before `ready`): {init_s:.2f} s")
    for label, body, run, wall, hand in results:
        report(label, args.rows, body, run, wall, hand)
    warm = results[1:]
    if warm:
        print(
            f"\nwarm, median of {len(warm)}: stack {statistics.median(r[3] for r in warm):.2f} s, by hand "
            f"{statistics.median(r[4] for r in warm):.2f} s, stack / by hand "
            f"{statistics.median(r[3] / r[4] for r in warm):.2f}x"
        )
        for stage in [s.name for s in warm[0][2].stages]:
            seconds = statistics.median(
                next(s.duration_s or 0.0 for s in r[2].stages if s.name == stage) for r in warm
            )
            print(f"  {stage:<12}{seconds:>6.2f} s (median)")
        outside = statistics.median(r[3] - sum(s.duration_s or 0.0 for s in r[2].stages) for r in warm)
        print(f"  {'orchestration':<12}{outside:>6.2f} s (median)")


def upload_and_follow(registry: Registry, bucket: str, dataset: str, body: bytes) -> tuple[Run, float]:
    """The run an upload started, and the seconds from the PUT to the end the run recorded.

    The bench polls in the stack's process (moto serves every request there) as often as `mlops upload
    --wait` does, not continuously, and takes the end from the run's record rather than from when it looked.
    """
    registry.datasets.put_config(dataset, DatasetConfig(target="label"))
    key = f"raw/{dataset}/data.csv"
    started = utcnow()
    etag = aws.s3().put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
    while (raw := registry.datasets.get_raw_object(dataset, bucket, key, etag)) is None or not raw.run_id:
        time.sleep(POLL_S)
    while (run := registry.runs.get_run(raw.run_id)).status == "RUNNING":
        time.sleep(POLL_S)
    assert run.ended_at is not None
    return run, (run.ended_at - started).total_seconds()


def report(label: str, rows: int, body: bytes, run: Run, wall: float, hand: float) -> None:
    print(
        f"\n[{label}] rows {rows:,}, columns 21, CSV {len(body) / 1e6:.1f} MB; run {run.run_id}: {run.status}"
    )
    if run.status != "SUCCEEDED":
        print(f"failed at {run.failed_stage}: {run.error}")
        sys.exit(1)
    inside = 0.0
    print(f"{'stage':<12}{'seconds':>9}{'share':>8}")
    for stage in run.stages:
        seconds = stage.duration_s or 0.0
        inside += seconds
        print(f"{stage.name:<12}{seconds:>9.2f}{seconds / wall:>8.1%}")
    conversion = next((s.duration_s or 0.0) for s in run.stages if s.name == "conversion")
    print(f"{'total':<12}{wall:>9.2f}   upload PUT to run end (promoted={run.promoted})")
    print(f"orchestration overhead {wall - inside:.2f} s (wall time outside the stages)")
    print(f"conversion + parity {conversion / wall:.1%} of the total")
    print(
        f"by hand (pandas + fit, no validation/ONNX/registry): {hand:.2f} s; stack / by hand = {wall / hand:.2f}x"
    )


if __name__ == "__main__":
    main()
