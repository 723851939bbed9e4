"""Benchmark of the web console's page renders (run by hand, never in tests).

    .venv/bin/python bench/bench_console.py [--runs 1000] [--models 5] [--versions 20] [--no-warm-up]

Starts the embedded stack (``mlops local up`` in a child process, free ports, fresh state), writes
``--runs`` runs with their five stage records and ``--models`` x ``--versions`` model versions
(each model with a production alias and history) straight into its metadata table, then serves the
console in this process over that stack and times, over HTTP as a browser would fetch them:

- the first page (``/``): the first request after start (after the console's warm-up, as
  ``mlops console`` runs it before printing the URL), then the median and p95 of ``REPEATS`` more;
- the runs page (25 runs with their stage timelines), a model page, the models list.

Against, in the same run: what a user types instead, ``mlops runs list --json`` and
``mlops models list --json`` (in-process, so no interpreter start-up is counted), each timed the
same way. The ratio is console page / CLI command.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlops import aws
from mlops.cli.connection import read_outputs
from mlops.cli.main import main as mlops
from mlops.console.app import Sources
from mlops.console.server import base_url, make_console_server
from mlops.console.site import build_console
from mlops.definition.outputs import DEFAULT_STACK_NAME
from mlops.demo import LocalStack
from mlops.entities import ArtifactRef, ModelVersion, Run, StageRecord
from mlops.registry import Registry
from mlops.storage import Storage

REPEATS = 30
STAGES = ("ingest", "validation", "training", "conversion", "promotion")
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def seed(registry: Registry, runs: int, models: int, versions: int) -> None:
    for i in range(runs):
        dataset = f"ds{i % models}"
        started = T0 + timedelta(minutes=i)
        failed = i % 10 == 9
        run = Run(run_id=f"{dataset}-upload-{i:05d}", dataset=dataset, trigger="upload", started_at=started)
        registry.runs.create_run(run)
        at = started
        for j, stage in enumerate(STAGES):
            status = "FAILED" if failed and j == 1 else "SUCCEEDED"
            registry.runs.put_stage(
                run.run_id,
                StageRecord(
                    name=stage,
                    status=status,
                    started_at=at,
                    ended_at=at + timedelta(seconds=2),
                    duration_s=2.0,
                ),
            )
            at += timedelta(seconds=2)
            if status == "FAILED":
                break
        registry.runs.save_run(
            run.model_copy(
                update={
                    "status": "FAILED" if failed else "SUCCEEDED",
                    "ended_at": at,
                    "failed_stage": "validation" if failed else None,
                    "error": "Column 'y' (target) is not in the file." if failed else None,
                }
            )
        )
    onnx = {"onnx": ArtifactRef(bucket="b", key="k", sha256="0" * 64, size=1)}
    for m in range(models):
        name = f"ds{m}"
        alias = None
        for version in range(1, versions + 1):
            registry.models.create_model_version(
                ModelVersion(
                    name=name,
                    version=version,
                    task="classification",
                    metrics={"f1_macro": 0.8 + version / 1000, "accuracy": 0.85},
                    dataset_version="0" * 64,
                    run_id=f"{name}-upload-{version:05d}",
                    artifacts=onnx,
                )
            )
            if version % 4 == 1:
                alias = registry.models.move_alias(name, version, alias, "promote")


def timed(call: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """(first, median, p95) in milliseconds."""
    start = time.perf_counter()
    call()
    first = (time.perf_counter() - start) * 1000
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return first, statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def fetch(url: str) -> Callable[[], object]:
    def get() -> object:
        with urllib.request.urlopen(url, timeout=60) as response:
            body = response.read()
            if response.status != 200 or b"Something went wrong" in body:
                raise SystemExit(f"{url} answered {response.status}")
            return body

    return get


def cli(*argv: str) -> Callable[[], object]:
    def run() -> object:
        code = mlops(list(argv), out=io.StringIO(), err=sys.stderr)
        if code != 0:
            raise SystemExit(f"mlops {' '.join(argv)} failed")
        return code

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--versions", type=int, default=20, help="versions per model")
    parser.add_argument("--no-warm-up", action="store_true", help="serve without the start-up warm-up")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state, LocalStack(Path(state)):
        aws.reset_clients()
        outputs = read_outputs(DEFAULT_STACK_NAME)
        registry = Registry(outputs.metadata_table)
        start = time.perf_counter()
        seed(registry, args.runs, args.models, args.versions)
        print(
            f"seeded {args.runs} runs and {args.models * args.versions} model versions "
            f"in {time.perf_counter() - start:.1f}s"
        )
        aws.reset_clients()  # the console starts with no client made, as `mlops console` does
        console = build_console(Sources(registry, Storage(), DEFAULT_STACK_NAME, "bench"))
        server = make_console_server(console, port=0)
        if not args.no_warm_up:
            start = time.perf_counter()
            console.warm_up()  # as `mlops console` does before it prints the URL
            print(f"warm-up at start: {(time.perf_counter() - start) * 1000:.0f} ms")
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = base_url(server)
        try:
            rows = [
                ("console /  (first page)", timed(fetch(url + "/"), REPEATS)),
                ("console /runs (25 runs + stages)", timed(fetch(url + "/runs"), REPEATS)),
                ("console /models", timed(fetch(url + "/models"), REPEATS)),
                ("console /models/ds0", timed(fetch(url + "/models/ds0"), REPEATS)),
                ("mlops runs list --json", timed(cli("runs", "list", "--json"), REPEATS)),
                ("mlops models list --json", timed(cli("models", "list", "--json"), REPEATS)),
            ]
        finally:
            server.shutdown()
            server.server_close()
    print("\n| what | first ms | median ms | p95 ms |\n| --- | --- | --- | --- |")
    for name, (first, median, p95) in rows:
        print(f"| {name} | {first:.0f} | {median:.1f} | {p95:.1f} |")
    home, runs_cli, models_cli = rows[0][1][1], rows[4][1][1], rows[5][1][1]
    print(
        f"\nfirst page / `runs list`: {home / runs_cli:.2f}x; first page / `models list`: {home / models_cli:.2f}x"
    )


if __name__ == "__main__":
    main()
