"""Benchmarks of batch scoring (run by hand, never in tests).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_batch.py [--rows 1000000] [--embedded-rows 10000000]

A logistic regression and a histogram gradient boosting model, trained and converted by the project on a
generated table of 20 numeric features. Measured in the same run, one thread each:

- the scoring worker's own path (with Arrow held to one thread, ``--arrow-threads``) (``mlops.batch.score.score_file``: Arrow reading, validation,
  onnxruntime, writing) on a CSV and a Parquet file of ``--rows`` rows, against what a user would
  write instead: pandas ``read_csv``/``read_parquet``, the scikit-learn pipeline's ``predict_proba``
  and ``predict``, the columns joined, ``to_csv``/``to_parquet``. Rows per second per core, and the ratio;
- the worker's peak memory (max RSS of a fresh process that imports only what the function imports)
  on inputs of growing size: it should not grow with the input;
- one file of ``--embedded-rows`` rows through the embedded stack end to end (upload to S3 in moto,
  the batch state machine, plan, Distributed Map, workers, finalize), wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FEATURES = 20
ESTIMATORS: dict[str, dict[str, Any]] = {"logistic_regression": {}, "hist_gradient_boosting": {}}


def generate(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 1, (rows, FEATURES)).round(5)
    frame = pd.DataFrame(values, columns=[f"f{i:02d}" for i in range(FEATURES)])
    logit = values[:, :8] @ np.linspace(1.0, 0.2, 8)
    frame.insert(0, "id", np.arange(rows))
    frame["label"] = np.where(logit + rng.logistic(0, 1, rows) > 0, "yes", "no")
    return frame


def train_models() -> dict[str, Any]:
    from mlops.config import DatasetConfig
    from mlops.ml.convert import to_onnx
    from mlops.ml.training import train

    frame = generate(20_000, seed=1)
    features = [c for c in frame.columns if c.startswith("f")]
    models = {}
    for estimator, params in ESTIMATORS.items():
        trained = train(frame, DatasetConfig(target="label", estimator=estimator, params=params), features)
        models[estimator] = (
            trained.pipeline,
            trained.signature,
            to_onnx(trained.pipeline, trained.signature),
        )
    return models


def loaded_model(signature: Any, onnx: bytes) -> Any:
    import onnxruntime as ort

    from mlops.entities import ModelVersion
    from mlops.ml.convert import to_bulk_onnx
    from mlops.serving.model_store import LoadedModel, session_options

    record = ModelVersion(name="bench", version=1, task="classification", dataset_version="0", run_id="bench")
    session = ort.InferenceSession(onnx, session_options(), providers=["CPUExecutionProvider"])
    bulk = to_bulk_onnx(onnx)  # a tree ensemble's bulk graph, as batch scoring loads it
    bulk_session = (
        None
        if bulk is None
        else lambda: ort.InferenceSession(bulk, session_options(), providers=["CPUExecutionProvider"])
    )
    return LoadedModel(record, signature, session, "0" * 64, bulk=bulk_session)


def write_input(frame: pd.DataFrame, fmt: str, folder: Path) -> Path:
    path = folder / f"input.{fmt}"
    features = frame.drop(columns=["label"])
    if fmt == "csv":
        features.to_csv(path, index=False)
    else:
        features.to_parquet(path, index=False, row_group_size=100_000)
    return path


def run_ours(model: Any, path: Path, fmt: str) -> tuple[float, int]:
    from mlops.batch.score import score_file

    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = score_file(model, path, fmt, Path(out))  # type: ignore[arg-type]
        return time.perf_counter() - started, result.rows_out


def run_pandas(
    pipeline: Any, path: Path, fmt: str, features: list[str], classes: list[Any]
) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        frame = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
        probabilities = pipeline.predict_proba(frame[features])
        frame["prediction"] = np.asarray(classes)[probabilities.argmax(axis=1)]
        for j, label in enumerate(classes):
            frame[f"probability_{label}"] = probabilities[:, j]
        frame["model_version"] = 1
        target = Path(out) / f"out.{fmt}"
        frame.to_csv(target, index=False) if fmt == "csv" else frame.to_parquet(target, index=False)
        return time.perf_counter() - started, len(frame)


def bench_throughput(models: dict[str, Any], rows: int, folder: Path) -> list[dict[str, Any]]:
    frame = generate(rows)
    results = []
    for fmt in ("csv", "parquet"):
        path = write_input(frame, fmt, folder)
        for name, (pipeline, signature, onnx) in models.items():
            model = loaded_model(signature, onnx)
            features = signature.feature_names
            ours = min(run_ours(model, path, fmt)[0] for _ in range(2))
            theirs = min(run_pandas(pipeline, path, fmt, features, signature.classes)[0] for _ in range(2))
            results.append(
                {
                    "format": fmt,
                    "model": name,
                    "rows": rows,
                    "ours_rows_per_s": round(rows / ours),
                    "pandas_sklearn_rows_per_s": round(rows / theirs),
                    "ratio": round(theirs / ours, 2),
                }
            )
            print(json.dumps(results[-1]), flush=True)
    return results


MEMORY_PROBE = """
import json, sys, tempfile
from pathlib import Path
import onnxruntime as ort
from mlops.entities import ModelVersion
from mlops.serving.model_store import LoadedModel, session_options
from mlops.signature import Signature
from mlops.batch.score import score_file
signature = Signature.model_validate_json(Path(sys.argv[2]).read_text())
record = ModelVersion(name="bench", version=1, task="classification", dataset_version="0", run_id="bench")
session = ort.InferenceSession(Path(sys.argv[3]).read_bytes(), session_options(), providers=["CPUExecutionProvider"])
model = LoadedModel(record, signature, session, "0" * 64)
def peak_mib():  # this process's own high-water mark (ru_maxrss keeps the parent's across exec)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
before = peak_mib()
with tempfile.TemporaryDirectory() as out:
    result = score_file(model, Path(sys.argv[1]), sys.argv[4], Path(out))
print(json.dumps({"rows": result.rows_out, "baseline_mib": before, "peak_mib": peak_mib(),
                  "modules": sorted(m for m in ("pandas", "sklearn", "scipy") if m in sys.modules)}))
"""


def bench_memory(models: dict[str, Any], sizes: list[int], folder: Path) -> list[dict[str, Any]]:
    _, signature, onnx = models["hist_gradient_boosting"]
    (folder / "signature.json").write_text(signature.model_dump_json())
    (folder / "model.onnx").write_bytes(onnx)
    results = []
    for rows in sizes:
        path = write_input(generate(rows, seed=rows), "csv", folder)
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE, str(path), str(folder / "signature.json"), str(folder / "model.onnx"), "csv"],
            capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )  # fmt: skip
        measured = json.loads(out.stdout.strip().splitlines()[-1])
        results.append({"rows": rows, "input_mib": round(path.stat().st_size / 2**20), **measured})
        results[-1]["peak_mib"] = round(results[-1]["peak_mib"])
        results[-1]["baseline_mib"] = round(results[-1]["baseline_mib"])
        print(json.dumps(results[-1]), flush=True)
    return results


def bench_embedded(models: dict[str, Any], rows: int, folder: Path) -> dict[str, Any]:
    from boto3.s3.transfer import S3Transfer
    from moto import mock_aws

    from mlops import aws
    from mlops.batch.entities import BatchRequest, S3Location
    from mlops.batch.submit import new_job_id, start_job
    from mlops.definition import outputs as out
    from mlops.entities import ModelVersion
    from mlops.executions import default_execution_starter
    from mlops.local import patches
    from mlops.local.embedded import configure_environment, start_embedded
    from mlops.ml.convert import to_bulk_onnx
    from mlops.registry import Registry
    from mlops.storage import Storage

    _, signature, onnx = models["hist_gradient_boosting"]
    path = write_input(generate(rows, seed=5), "csv", folder)
    configure_environment(None)
    config: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):
        aws.reset_clients()
        embedded = start_embedded()
        try:
            outputs = embedded.stack.outputs
            registry = Registry(outputs[out.METADATA_TABLE])
            artifacts = {
                "onnx": Storage().put(outputs[out.ARTIFACT_BUCKET], "models/bench/v1/model.onnx", onnx)
            }
            bulk = to_bulk_onnx(onnx)
            if bulk is not None:
                artifacts["onnx_bulk"] = Storage().put(
                    outputs[out.ARTIFACT_BUCKET], "models/bench/v1/model.bulk.onnx", bulk
                )
            registry.models.create_model_version(
                ModelVersion(
                    name="bench", version=1, task="classification", dataset_version="0", run_id="bench",
                    artifacts=artifacts, signature=signature,
                )
            )  # fmt: skip
            registry.models.move_alias("bench", 1, None, "promote")
            data = outputs[out.DATA_BUCKET]
            started = time.perf_counter()
            S3Transfer(aws.s3()).upload_file(str(path), data, "batch/bench/uploads/input.csv")
            uploaded = time.perf_counter()
            request = BatchRequest(
                job_id=new_job_id("bench"), model="bench",
                input=S3Location(bucket=data, key="batch/bench/uploads/input.csv"),
                output=S3Location(bucket=data, key="batch/bench/output/"),
            )  # fmt: skip
            start_job(default_execution_starter(), outputs[out.BATCH_STATE_MACHINE_ARN], request)
            jobs = registry.batch_jobs
            while (job := jobs.find(request.job_id)) is None or job.status == "RUNNING":
                time.sleep(0.5)
            ended = time.perf_counter()
        finally:
            embedded.runtime.shutdown()
            patches.uninstall()
    result = {
        "rows": rows,
        "input_mib": round(path.stat().st_size / 2**20),
        "status": job.status,
        "rows_out": job.rows_out,
        "parts": job.parts,
        "upload_s": round(uploaded - started, 1),
        "job_s": round(ended - uploaded, 1),
        "rows_per_s": round(rows / (ended - uploaded)),
    }
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--memory-rows", type=int, nargs="*", default=[100_000, 1_000_000, 4_000_000])
    parser.add_argument("--embedded-rows", type=int, default=10_000_000, help="0 skips the end-to-end run")
    parser.add_argument(
        "--arrow-threads", type=int, default=1, help="Arrow's CPU threads (1: one core, as the comparison)"
    )
    parser.add_argument("--json", type=Path, help="also write every result to this file")
    args = parser.parse_args()
    import pyarrow as pa

    pa.set_cpu_count(args.arrow_threads)  # Arrow parses CSV in its own thread pool, one per core otherwise
    models = train_models()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        results: dict[str, Any] = {
            "throughput": bench_throughput(models, args.rows, folder),
            "memory": bench_memory(models, args.memory_rows, folder),
        }
        if args.embedded_rows:
            results["embedded"] = bench_embedded(models, args.embedded_rows, folder)
    results["max_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
