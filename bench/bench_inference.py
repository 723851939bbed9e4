"""Benchmarks of the inference function (run by hand, never in tests).

    .venv/bin/python bench/bench_inference.py [--quick] [--skip-package] [--skip-http] [--only SECTION]

Three models trained and converted by the project (logistic regression, random forest with 100 trees,
histogram gradient boosting) on a generated table of 20 features (15 numeric, 5 categorical). Each
number is set against what a user would deploy instead, measured in the same run:

- latency of one row, in process: an API Gateway event in, the response dict out, through the real
  handler (``functions/inference/handler.py``: Powertools resolver, Logger, Metrics with their EMF
  flush, validation, onnxruntime, JSON), against a minimal Powertools handler that builds a pandas
  DataFrame and calls the scikit-learn pipeline's ``predict_proba``, and against a bare
  ``InferenceSession.run`` on a prepared feed (the floor);
- throughput in rows per second at batch sizes 1, 100 and 10,000, both handlers;
- the cost of data capture per request (the lines built and packed), and what capture adds to the
  handler's one-row p50: capture on (every request spooled for the capture extension) against off;
- cold start in a fresh process: imports, model load from a local file and the first prediction,
  against the same Powertools handler importing pandas and scikit-learn and unpickling the model,
  and both bare (only the model library, the model file and one prediction); every module, the
  project's too, read from a bytecode cache filled by an unmeasured first run;
- the deployed size: the function's layers (core + inference) built by ``layers/build.py`` as Lambda
  installs them (manylinux wheels), against the scikit-learn stack in their place;
- latency over HTTP through the local API server (``mlops.local.http_api``), one keep-alive client,
  capture off and on (the capture extension shipping the spool to moto's Firehose in the same process,
  as the embedded stack runs it);
- canary routing: one row through the handler for a model with no canary, against the same model
  with a canary at 10% (a request production answers: the routing decision and the per-variant
  counting), interleaved in the same run; a request the candidate answers; and the same model with
  an active shadow rollout (its candidate in the alias at weight 0).

The handler runs against moto (registry, artifacts, capture) only to load the model; with the alias
TTL set to an hour the measured path never calls AWS. Capture is off in the latency and throughput
runs, and measured on its own against them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
NUMERIC, CATEGORICAL = 15, 5
ESTIMATORS = {
    "logistic_regression": {},
    "random_forest": {"n_estimators": 100},
    "hist_gradient_boosting": {},
}


# ---- models --------------------------------------------------------------------------------------


def generate(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    logit = np.zeros(rows)
    for i in range(NUMERIC):
        values = rng.normal(0, 1, rows) * 10 ** (i % 4) + 100 * (i % 3)
        columns[f"num_{i:02d}"] = values.round(4)
        logit += (0.6 / (1 + i)) * (values - values.mean()) / values.std()
    for i in range(CATEGORICAL):
        levels = np.array([f"c{i}_{k}" for k in range(3 + 4 * i)])
        picks = rng.integers(0, len(levels), rows)
        columns[f"cat_{i}"] = levels[picks]
        logit += np.where(picks % 3 == 0, 0.5, -0.2)
    frame = pd.DataFrame(columns)
    frame["label"] = np.where(logit + rng.logistic(0, 1, rows) > 0, "positive", "negative")
    return frame


@dataclass
class Model:
    name: str
    pipeline: Any
    signature: Any
    onnx: bytes
    joblib: bytes
    bulk: bytes | None = None  # a tree ensemble's bulk graph, which requests of 512 rows or more take


def train_models(rows: int) -> dict[str, Model]:
    import joblib

    from mlops.config import DatasetConfig
    from mlops.ml.convert import to_bulk_onnx, to_onnx
    from mlops.ml.training import train

    frame = generate(rows)
    features = [c for c in frame.columns if c != "label"]
    models = {}
    for estimator, params in ESTIMATORS.items():
        config = DatasetConfig(target="label", estimator=estimator, params=params)
        trained = train(frame, config, features)
        buffer = io.BytesIO()
        joblib.dump(trained.pipeline, buffer)
        onnx_bytes = to_onnx(trained.pipeline, trained.signature)
        models[estimator] = Model(
            estimator,
            trained.pipeline,
            trained.signature,
            onnx_bytes,
            buffer.getvalue(),
            to_bulk_onnx(onnx_bytes),
        )
    return models


def rows_of(frame: pd.DataFrame, n: int) -> list[dict[str, Any]]:
    features = frame.drop(columns=["label"])
    repeated = pd.concat([features] * (n // len(features) + 1), ignore_index=True).head(n)
    records: list[dict[str, Any]] = json.loads(repeated.to_json(orient="records"))
    return records


# ---- the function, in process --------------------------------------------------------------------


@contextlib.contextmanager
def inference_function(models: dict[str, Model]) -> Iterator[Function]:
    """The real handler, cold-started against moto with every model published and promoted, in an
    execution environment running its capture extension."""
    from moto import mock_aws

    from mlops import aws
    from mlops.definition import description as d
    from mlops.local.extensions import ExecutionEnvironment
    from mlops.local.firehose import delivery_stream_config, install_firehose_partitioning
    from mlops.local.resources import create_table
    from mlops.settings import load_settings

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "METADATA_TABLE": "mlops-metadata",
            "ARTIFACT_BUCKET": "mlops-artifacts",
            "CAPTURE_STREAM": "mlops-capture",
            "CAPTURE_SAMPLE_RATE": "0",
            "CAPTURE_SPOOL_DIR": tempfile.mkdtemp(prefix="bench-capture-"),
            "ALIAS_TTL_SECONDS": "3600",
            "POWERTOOLS_SERVICE_NAME": "mlops",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_NAMESPACE": "Mlops/bench",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        aws.reset_clients()
        load_settings.cache_clear()
        install_firehose_partitioning()
        create_table(d.METADATA_TABLE, "mlops-metadata")
        for bucket in ("mlops-artifacts", "mlops-capture"):
            aws.s3().create_bucket(Bucket=bucket)
        aws.firehose().create_delivery_stream(
            **delivery_stream_config(d.CAPTURE_STREAM, lambda n: f"mlops-{n}", "arn:aws:iam::1:role/r")
        )
        for model in models.values():
            publish(model.name, model, promote=True)
        loader = importlib.util.spec_from_file_location(
            "inference_handler", ROOT / "functions/inference/handler.py"
        )
        assert loader is not None and loader.loader is not None
        environment = ExecutionEnvironment("mlops-inference")
        environment.start(d.EXTENSIONS)
        try:
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
            yield Function(module, environment)
        finally:
            environment.shutdown()


@dataclass
class Function:
    """The handler module and its execution environment (the capture extension runs there)."""

    module: Any
    environment: Any

    @property
    def handler(self) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        handler: Callable[[dict[str, Any], Any], dict[str, Any]] = self.module.handler
        return handler

    def capture(self, on: bool) -> None:
        self.module.service.capture.sample_rate = 1.0 if on else 0.0

    def invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """As Lambda invokes: the INVOKE event to the extensions, then the handler."""
        self.environment.invoke(context.aws_request_id, 29.0)
        return self.handler(event, context)


def publish(name: str, model: Model, promote: bool) -> int:
    """A new version of ``name`` in the registry and artifact bucket of ``inference_function``."""
    from mlops.entities import ModelVersion
    from mlops.registry import Registry
    from mlops.storage import Storage

    registry = Registry("mlops-metadata")
    version = registry.models.next_model_version(name)
    ref = Storage().put("mlops-artifacts", f"models/{name}/v{version}/model.onnx", model.onnx)
    artifacts = {"onnx": ref}
    if model.bulk is not None:
        artifacts["onnx_bulk"] = Storage().put(
            "mlops-artifacts", f"models/{name}/v{version}/model.bulk.onnx", model.bulk
        )
    record = ModelVersion(
        name=name,
        version=version,
        task="classification",
        dataset_version="0" * 64,
        run_id="bench",
        artifacts=artifacts,
        signature=model.signature,
    )
    registry.models.create_model_version(record)
    if promote:
        registry.models.move_alias(name, version, registry.models.get_alias(name), "promote")
    return version


def sklearn_function(models: dict[str, Model]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """What users usually deploy: a minimal Powertools handler, a DataFrame, ``predict_proba``."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver
    from aws_lambda_powertools.metrics import MetricUnit

    from mlops.observability import logger, metrics

    app = APIGatewayRestResolver()

    @app.post("/models/<name>/predict")
    def predict(name: str) -> dict[str, Any]:
        started = time.perf_counter()
        pipeline = models[name].pipeline
        frame = pd.DataFrame.from_records(app.current_event.json_body["records"])
        probabilities = pipeline.predict_proba(frame)
        labels = pipeline.classes_[probabilities.argmax(axis=1)]
        metrics.add_metric(
            name="PredictionLatency", unit=MetricUnit.Milliseconds, value=time.perf_counter() - started
        )
        return {"model": name, "predictions": labels.tolist(), "probabilities": probabilities.tolist()}

    @logger.inject_lambda_context
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return app.resolve(event, context)

    return handler


def predict_event(model: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events/inference/predict_records.json").read_text())
    event["path"] = f"/models/{model}/predict"
    event["requestContext"]["path"] = f"/prod/models/{model}/predict"
    event["body"] = json.dumps({"records": rows})
    return event


def context() -> Any:
    from mlops.local.context import LocalContext

    return LocalContext(function_name="mlops-inference", memory_limit_in_mb=1024)


# ---- measuring -----------------------------------------------------------------------------------


def samples_us(call: Callable[[], Any], n: int, warmup: int = 200) -> list[float]:
    for _ in range(warmup):
        call()
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        started = clock()
        call()
        out.append((clock() - started) / 1000)
    return out


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def quiet() -> contextlib.AbstractContextManager[Any]:
    """EMF lines and logs go to stdout in Lambda; here to /dev/null, still paying for the writes."""
    return contextlib.redirect_stdout(open(os.devnull, "w"))


def bench_latency(
    models: dict[str, Model], handler: Callable[..., Any], sklearn: Callable[..., Any], n: int
) -> list[dict[str, Any]]:
    import onnxruntime as ort

    from mlops.serving.features import FeatureLayout, parse_predict_body
    from mlops.serving.model_store import LoadedModel, session_options

    frame = generate(50, seed=1)
    out = []
    for name, model in models.items():
        event = predict_event(name, rows_of(frame, 1))
        ctx = context()
        with quiet():
            assert handler(event, ctx)["statusCode"] == 200
            assert sklearn(event, ctx)["statusCode"] == 200
            session = ort.InferenceSession(model.onnx, session_options(), providers=["CPUExecutionProvider"])
            from mlops.entities import ModelVersion

            loaded = LoadedModel(
                ModelVersion(name=name, version=1, task="classification", dataset_version="0", run_id="b"),
                model.signature,
                session,
                "",
            )
            feed = loaded.feed(
                parse_predict_body(FeatureLayout(model.signature), json.loads(event["body"]), 10)
            )
            # interleaved rounds, so a noisy neighbour weighs on all three alike
            ours: list[float] = []
            theirs: list[float] = []
            bare: list[float] = []
            for _ in range(5):
                ours += samples_us(partial(handler, event, ctx), n // 5)
                theirs += samples_us(partial(sklearn, event, ctx), max(50, n // 25))
                bare += samples_us(partial(session.run, None, feed), n // 5)
        out.append(
            {
                "model": name,
                "handler_p50_us": p(ours, 50),
                "handler_p99_us": p(ours, 99),
                "sklearn_p50_us": p(theirs, 50),
                "sklearn_p99_us": p(theirs, 99),
                "bare_run_p50_us": p(bare, 50),
                "bare_run_p99_us": p(bare, 99),
                "speedup_vs_sklearn_p50": p(theirs, 50) / p(ours, 50),
                "vs_bare_run_p50": p(ours, 50) / p(bare, 50),
            }
        )
    return out


def bench_routing(models: dict[str, Model], handler: Callable[..., Any], n: int) -> list[dict[str, Any]]:
    """What a canary or a shadow rollout adds to a request: the same model with and without a candidate
    beside it (a shadow's candidate answers nothing: it is scored later from captured requests)."""
    from mlops.registry import Registry
    from mlops.serving.routing import to_candidate

    registry = Registry("mlops-metadata")
    model = models["logistic_regression"]
    plain, routed, shadowed = "plain", "canary", "shadowed"
    for name, promote in (
        (plain, True),
        (routed, True),
        (routed, False),
        (shadowed, True),
        (shadowed, False),
    ):
        publish(name, model, promote)
    alias = registry.models.get_alias(routed)
    assert alias is not None
    registry.models.set_candidate(alias, 2, 10.0, "canary", "bench")
    # A shadow rollout's alias: the candidate at weight 0, judged later by replaying captured requests.
    shadow_alias = registry.models.get_alias(shadowed)
    assert shadow_alias is not None
    registry.models.set_candidate(shadow_alias, 2, 0.0, "shadow", "bench")
    keys = [f"client-{i}" for i in range(1000)]
    to_production = next(k for k in keys if not to_candidate(k, 2, 10.0))
    to_canary = next(k for k in keys if to_candidate(k, 2, 10.0))
    rows = rows_of(generate(10, seed=4), 1)
    events = {}
    for label, name, key in (
        ("none", plain, None),
        ("production", routed, to_production),
        ("candidate", routed, to_canary),
        ("shadow", shadowed, to_production),
    ):
        event = predict_event(name, rows)
        if key is not None:
            event["headers"] = {**(event.get("headers") or {}), "X-Routing-Key": key}
            event.pop("multiValueHeaders", None)
        events[label] = event
    ctx = context()
    samples: dict[str, list[float]] = {label: [] for label in events}
    with quiet():
        for label, event in events.items():
            response = handler(event, ctx)
            assert response["statusCode"] == 200, response["body"][:200]
            variant = json.loads(response["body"]).get("variant")
            assert variant == (None if label in ("none", "shadow") else label), (label, variant)
        for _ in range(5):  # interleaved rounds
            for label, event in events.items():
                samples[label] += samples_us(partial(handler, event, ctx), n // 5)
    base = p(samples["none"], 50)
    return [
        {
            "request": label,
            "p50_us": p(values, 50),
            "p99_us": p(values, 99),
            "p50_added_us": p(values, 50) - base,
        }
        for label, values in samples.items()
    ]


def bench_throughput(
    models: dict[str, Model], handler: Callable[..., Any], sklearn: Callable[..., Any], quick: bool
) -> list[dict[str, Any]]:
    frame = generate(2000, seed=2)
    out = []
    for name in models:
        for batch in (1, 100, 10_000):
            event = predict_event(name, rows_of(frame, batch))
            repeats = {1: 2000, 100: 300, 10_000: 5}[batch] // (4 if quick else 1)
            ctx = context()
            with quiet():
                response = handler(event, ctx)
                assert response["statusCode"] == 200, response["body"][:200]
                sklearn(event, ctx)
                ours = statistics.median(samples_us(partial(handler, event, ctx), repeats, warmup=2))
                theirs = statistics.median(
                    samples_us(partial(sklearn, event, ctx), max(3, repeats // 5), warmup=1)
                )
            out.append(
                {
                    "model": name,
                    "batch": batch,
                    "handler_rows_per_s": batch / ours * 1e6,
                    "sklearn_rows_per_s": batch / theirs * 1e6,
                    "ratio": theirs / ours,
                }
            )
    return out


def bench_capture_overhead(models: dict[str, Model], function: Function, n: int) -> list[dict[str, Any]]:
    """The handler's one-row p50 with capture off and on (every request spooled), interleaved rounds.

    The spool here is one no extension ships from: in Lambda the extension is a process of its own,
    while here it would share this process's interpreter lock with the handler being timed (the HTTP
    bench keeps it running, as the embedded stack does)."""
    from mlops.serving.spool import SpoolWriter

    service = function.module.service
    shipped_sink = service.capture.sink
    service.capture.sink = SpoolWriter(tempfile.mkdtemp(prefix="bench-unshipped-"))
    frame = generate(50, seed=1)
    out = []
    for name in models:
        event = predict_event(name, rows_of(frame, 1))
        ctx = context()
        off: list[float] = []
        on: list[float] = []
        with quiet():
            for _ in range(5):
                function.capture(False)
                off += samples_us(partial(function.handler, event, ctx), n // 5)
                function.capture(True)
                on += samples_us(partial(function.handler, event, ctx), n // 5)
        function.capture(False)
        out.append(
            {
                "model": name,
                "capture_off_p50_us": p(off, 50),
                "capture_on_p50_us": p(on, 50),
                "added_p50_us": p(on, 50) - p(off, 50),
                "capture_off_p99_us": p(off, 99),
                "capture_on_p99_us": p(on, 99),
            }
        )
    service.capture.sink = shipped_sink
    return out


def bench_capture(models: dict[str, Model]) -> list[dict[str, Any]]:
    """CPU cost of capture per request: build the rows, encode the lines, pack Firehose records."""
    from mlops.serving.capture_writer import capture_lines, pack
    from mlops.serving.features import FeatureLayout, parse_predict_body

    model = next(iter(models.values()))
    layout = FeatureLayout(model.signature)
    frame = generate(2000, seed=3)
    out = []
    for batch in (1, 100, 10_000):
        parsed = parse_predict_body(layout, {"records": rows_of(frame, batch)}, 10_000)
        predictions = ["positive"] * batch
        probabilities = [[0.25, 0.75]] * batch
        from datetime import UTC, datetime

        def run(
            parsed: Any = parsed, predictions: Any = predictions, probabilities: Any = probabilities
        ) -> None:
            rows = parsed.feature_rows(layout)
            pack(capture_lines("r", "m", 1, datetime.now(UTC), rows, predictions, probabilities))

        took = statistics.median(samples_us(run, {1: 2000, 100: 200, 10_000: 5}[batch], warmup=1))
        out.append({"batch": batch, "capture_us": took, "per_row_us": took / batch})
    return out


COLD_ONNX = r"""
import time
started = time.perf_counter()
import hashlib, json, sys
from pathlib import Path
from mlops.local.context import LocalContext
from mlops.observability import logger, metrics
from mlops.serving.api import create_app
from mlops.serving.capture_writer import Capture
from mlops.serving.model_store import ModelStore
from mlops.serving.records import alias_from_json, model_version_from_json
from mlops.serving.service import InferenceService, Limits
from mlops.serving import snapstart
from mlops.function_settings import load_settings
from mlops.serving.settings import InferenceSettings
from snapshot_restore_py import register_after_restore, register_before_snapshot

folder = Path(sys.argv[1])
settings = load_settings(InferenceSettings)

# The registry's records as the function reads them (JSON documents, mlops.serving.records), from files.
class Files:
    def production_alias(self, name):
        return alias_from_json(json.dumps({"name": name, "version": 1, "revision": 1,
                                           "updated_at": "2026-01-01T00:00:00Z"}))
    def has_versions(self, name):
        return True
    def model_version(self, name, version):
        data = (folder / "model.onnx").read_bytes()
        ref = {"bucket": "local", "key": "model.onnx", "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        signature = json.loads((folder / "signature.json").read_text())
        return model_version_from_json(json.dumps({
            "name": name, "version": 1, "task": "classification", "dataset_version": "0", "run_id": "r",
            "artifacts": {"onnx": ref}, "signature": signature, "created_at": "2026-01-01T00:00:00Z"}))
    def artifact(self, ref):
        data = (folder / ref.key).read_bytes()
        assert hashlib.sha256(data).hexdigest() == ref.sha256
        return data

service = InferenceService(
    ModelStore(Files(), settings.alias_ttl_seconds),
    Capture(None, 0),
    Limits(settings.max_batch_rows, settings.max_payload_bytes),
)
app = create_app(service)
register_before_snapshot(snapstart.before_snapshot, service)
register_after_restore(snapstart.after_restore, service)

@logger.inject_lambda_context
@metrics.log_metrics
def handler(event, context):
    return app.resolve(event, context)

imported = time.perf_counter()
event = json.loads((folder / "event.json").read_text())
response = handler(event, LocalContext(function_name="f"))
assert response["statusCode"] == 200, response
done = time.perf_counter()
pydantic_loaded = "pydantic" in sys.modules
# Not in the total: what a real first request adds before its network calls (the function's two
# botocore clients), measured after it so the other figures are unchanged by it.
from mlops import aws
aws.dynamodb(), aws.s3()
clients = time.perf_counter() - done
print(json.dumps({"imports_s": imported - started, "first_request_s": done - imported, "total_s": done - started, "clients_s": clients, "pydantic_loaded": pydantic_loaded}), file=sys.stderr)
"""

COLD_SKLEARN = r"""
import time
started = time.perf_counter()
import json, sys
from pathlib import Path
import boto3
import joblib
import pandas as pd
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from mlops.local.context import LocalContext
from mlops.observability import logger, metrics

folder = Path(sys.argv[1])
pipeline = joblib.load(folder / "model.joblib")
app = APIGatewayRestResolver()

@app.post("/models/<name>/predict")
def predict(name):
    frame = pd.DataFrame.from_records(app.current_event.json_body["records"])
    probabilities = pipeline.predict_proba(frame)
    return {"predictions": pipeline.classes_[probabilities.argmax(axis=1)].tolist(), "probabilities": probabilities.tolist()}

@logger.inject_lambda_context
@metrics.log_metrics
def handler(event, context):
    return app.resolve(event, context)

imported = time.perf_counter()
event = json.loads((folder / "event.json").read_text())
response = handler(event, LocalContext(function_name="f"))
assert response["statusCode"] == 200, response
done = time.perf_counter()
print(json.dumps({"imports_s": imported - started, "first_request_s": done - imported, "total_s": done - started}), file=sys.stderr)
"""


COLD_ONNX_BARE = r"""
import time
started = time.perf_counter()
import json, sys
from pathlib import Path
import numpy as np
import onnxruntime as ort

folder = Path(sys.argv[1])
session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
imported = time.perf_counter()
row = json.loads(json.loads((folder / "event.json").read_text())["body"])["records"][0]
feed = {
    i.name: np.array([[row[i.name]]], dtype=np.float32 if i.type == "tensor(float)" else object)
    for i in session.get_inputs()
}
session.run(None, feed)
done = time.perf_counter()
print(json.dumps({"imports_s": imported - started, "first_request_s": done - imported, "total_s": done - started}), file=sys.stderr)
"""

COLD_SKLEARN_BARE = r"""
import time
started = time.perf_counter()
import json, sys
from pathlib import Path
import joblib
import pandas as pd

folder = Path(sys.argv[1])
pipeline = joblib.load(folder / "model.joblib")
imported = time.perf_counter()
rows = json.loads(json.loads((folder / "event.json").read_text())["body"])["records"]
pipeline.predict_proba(pd.DataFrame.from_records(rows))
done = time.perf_counter()
print(json.dumps({"imports_s": imported - started, "first_request_s": done - imported, "total_s": done - started}), file=sys.stderr)
"""


def bench_cold_start(models: dict[str, Model], runs: int) -> list[dict[str, Any]]:
    out = []
    from mlops.definition.description import API_FUNCTION, function
    from mlops.local.resources import env_value

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "PYDANTIC_"))}
    # The inference function's own variables as deployed (its settings, the log level), resource names
    # as the embedded stack resolves them: the function reads its settings in the measured cold start.
    env.update({k: env_value(v) for k, v in function(API_FUNCTION).env.items()})
    env.update(AWS_DEFAULT_REGION="us-east-1", POWERTOOLS_METRICS_NAMESPACE="Mlops")
    # Every module read from bytecode, the project's as much as the libraries' (an environment that sets
    # PYTHONDONTWRITEBYTECODE would otherwise compile the editable project in every run, and only it):
    # one cache for all four scripts, filled by an unmeasured run of each.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="bench-bytecode-")
    for name, model in models.items():
        with tempfile.TemporaryDirectory() as folder:
            base = Path(folder)
            (base / "model.onnx").write_bytes(model.onnx)
            (base / "model.joblib").write_bytes(model.joblib)
            (base / "signature.json").write_text(model.signature.model_dump_json())
            (base / "event.json").write_text(json.dumps(predict_event(name, rows_of(generate(5, seed=4), 1))))
            scripts = {
                "onnx": COLD_ONNX,
                "sklearn": COLD_SKLEARN,
                "onnx_bare": COLD_ONNX_BARE,
                "sklearn_bare": COLD_SKLEARN_BARE,
            }
            results: dict[str, list[dict[str, float]]] = {kind: [] for kind in scripts}
            for script in scripts.values():
                subprocess.run(
                    [sys.executable, "-c", script, folder], env=env, capture_output=True, check=True
                )
            for _ in range(runs):
                for kind, script in scripts.items():
                    started = time.perf_counter()
                    done = subprocess.run(
                        [sys.executable, "-c", script, folder],
                        env=env,
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    measured = json.loads(done.stderr.strip().splitlines()[-1])
                    measured["process_s"] = time.perf_counter() - started
                    results[kind].append(measured)
            row: dict[str, Any] = {"model": name}
            for kind, values in results.items():
                for key in ("imports_s", "first_request_s", "total_s", "clients_s"):
                    if key in values[0]:
                        row[f"{kind}_{key}"] = statistics.median(v[key] for v in values)
            # Whether the function's cold start (imports, settings, model load, first request) loaded pydantic.
            row["onnx_pydantic_loaded"] = any(v.get("pydantic_loaded") for v in results["onnx"])
            row["function_vs_sklearn_function"] = row["sklearn_total_s"] / row["onnx_total_s"]
            row["function_vs_bare_sklearn"] = row["sklearn_bare_total_s"] / row["onnx_total_s"]
            out.append(row)
    return out


def bench_package_size() -> dict[str, Any]:
    """The function's layers as ``layers/build.py`` builds them for Lambda, and the scikit-learn stack."""
    spec = importlib.util.spec_from_file_location("layer_build", ROOT / "layers/build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    mib = 1024 * 1024
    sizes: dict[str, Any] = {
        "source": f"pip install --target, manylinux wheels for CPython {build.PYTHON_VERSION} x86_64"
    }
    with tempfile.TemporaryDirectory() as folder:
        core = build.build("core", Path(folder) / "core", with_project=True)
        inference = build.build("inference", Path(folder) / "inference", with_project=False)
        capture = build.build("capture", Path(folder) / "capture", with_project=False).parent
        sklearn_dir = Path(folder) / "sklearn" / "python"
        sklearn_dir.mkdir(parents=True)
        requirements = Path(folder) / "sklearn.txt"
        requirements.write_text(
            "scikit-learn==1.9.1\nscipy\npandas\nnumpy==2.4.6\njoblib\nthreadpoolctl\npython-dateutil\nsix\ntzdata\n"
        )
        subprocess.run(build.pip_command(requirements, sklearn_dir), check=True)
        build.prune(sklearn_dir, list(build.ALWAYS_PRUNED))
        function_code = ROOT / "functions/inference"
        for label, paths in {
            "inference function (core + inference + capture layers + code)": [
                core,
                inference,
                capture,
                function_code,
            ],
            "scikit-learn alternative (core layer + sklearn stack + code)": [
                core,
                sklearn_dir,
                function_code,
            ],
        }.items():
            unzipped = sum(build.unzipped_bytes(path) for path in paths)
            zipped = sum(build.zipped_bytes(path) for path in paths)
            sizes[label] = {"unzipped_mib": unzipped / mib, "zipped_mib": zipped / mib}
        sizes["inference layer alone"] = {
            "unzipped_mib": build.unzipped_bytes(inference) / mib,
            "zipped_mib": build.zipped_bytes(inference) / mib,
        }
    return sizes


def bench_http(function: Function, model: str, n: int) -> dict[str, Any]:
    """One keep-alive client through the local API server, capture off and on in alternate rounds
    (on: every request spooled, the capture extension shipping to moto's Firehose meanwhile)."""
    import http.client

    from mlops.local.http_api import make_api_server

    server = make_api_server("127.0.0.1", 0, function.invoke)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    took: dict[bool, list[float]] = {False: [], True: []}
    try:
        port = server.server_address[1]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = json.dumps({"records": rows_of(generate(5, seed=5), 1)})

        def call() -> None:
            connection.request(
                "POST", f"/models/{model}/predict", body=body, headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            response.read()
            assert response.status == 200

        with quiet():
            for _ in range(3):
                for capture in (False, True):
                    function.capture(capture)
                    took[capture] += samples_us(call, n // 3, warmup=50)
        connection.close()
    finally:
        function.capture(False)
        server.shutdown()
        server.server_close()
    off, on = took[False], took[True]
    return {
        "model": model,
        "capture_off_p50_us": p(off, 50),
        "capture_off_p99_us": p(off, 99),
        "capture_on_p50_us": p(on, 50),
        "capture_on_p99_us": p(on, 99),
        "on_vs_off_p50": p(on, 50) / p(off, 50),
    }


def bench_threads(models: dict[str, Model]) -> list[dict[str, Any]]:
    """intra_op_num_threads 1 against 2 (with and without spinning threads) for a bare run, one row and
    10,000 rows (the forest's per-tree path)."""
    import onnxruntime as ort

    from mlops.entities import ModelVersion
    from mlops.serving.features import FeatureLayout, parse_predict_body
    from mlops.serving.model_store import LoadedModel, session_options

    frame = generate(2000, seed=6)
    out = []
    for name, model in models.items():
        for threads, spinning in ((1, False), (2, False), (2, True)):
            options = session_options()
            options.intra_op_num_threads = threads
            options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
            session = ort.InferenceSession(model.onnx, options, providers=["CPUExecutionProvider"])
            loaded = LoadedModel(
                ModelVersion(name=name, version=1, task="classification", dataset_version="0", run_id="b"),
                model.signature,
                session,
                "",
            )
            layout = FeatureLayout(model.signature)
            for batch in (1, 10_000):
                feed = loaded.feed(parse_predict_body(layout, {"records": rows_of(frame, batch)}, 10_000))
                took = statistics.median(
                    samples_us(partial(session.run, None, feed), 2000 if batch == 1 else 10, 3)
                )
                out.append(
                    {"model": name, "threads": threads, "spinning": spinning, "batch": batch, "run_us": took}
                )
    return out


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        cells = [
            f"{v:,.1f}"
            if isinstance(v, float) and abs(v) >= 10
            else f"{v:.3g}"
            if isinstance(v, float)
            else str(v)
            for v in row.values()
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="fewer samples (a smoke run, not for the record)"
    )
    parser.add_argument(
        "--skip-package", action="store_true", help="skip the layer builds (they download wheels)"
    )
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument(
        "--only",
        choices=["capture", "cold-start", "throughput", "threads"],
        help="one section alone: capture on against off (handler and HTTP), the cold starts, the "
        "rows per second of both handlers, or a bare run on one thread against two",
    )
    parser.add_argument("--json", type=Path, help="also write every result to this file")
    parser.add_argument(
        "--only-routing", action="store_true", help="only the canary and shadow routing figures"
    )
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    # Before training imports mlops.observability: its Metrics reads the namespace when it is built.
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Mlops/bench")
    results: dict[str, Any] = {
        "cpu": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "python": sys.version.split()[0],
    }
    started = time.perf_counter()
    n = 1000 if args.quick else 10_000
    with threadpool_limits(limits=1):  # Lambda at 1 GB has one vCPU's worth; both sides single-threaded
        models = train_models(3000)
        if args.only_routing:
            with inference_function(models) as function:
                results["canary_routing"] = bench_routing(models, function.handler, n)
            return _report(results, args.json)
        if args.only == "throughput":
            with inference_function(models) as function:
                sklearn = sklearn_function(models)
                results["throughput"] = bench_throughput(models, function.handler, sklearn, args.quick)
        if args.only in (None, "capture"):
            with inference_function(models) as function:
                handler = function.handler
                if args.only is None:
                    sklearn = sklearn_function(models)
                    results["latency_one_row"] = bench_latency(models, handler, sklearn, n)
                    results["canary_routing"] = bench_routing(models, handler, n)
                    results["throughput"] = bench_throughput(models, handler, sklearn, args.quick)
                    results["capture_cpu"] = bench_capture(models)
                results["capture_on_vs_off_one_row"] = bench_capture_overhead(models, function, n)
                if not args.skip_http:
                    results["http_one_row"] = [
                        bench_http(function, "random_forest", 600 if args.quick else 3000)
                    ]
        if args.only in (None, "threads"):
            results["onnxruntime_threads"] = bench_threads(models)
    if args.only in (None, "cold-start"):
        results["cold_start"] = bench_cold_start(models, 2 if args.quick else 5)
    if args.only is None and not args.skip_package:
        results["package_size"] = bench_package_size()
    results["seconds"] = time.perf_counter() - started
    _report(results, args.json)


def _report(results: dict[str, Any], json_path: Path | None) -> None:
    results["load_average_after"] = os.getloadavg()
    for section, value in results.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            print(f"\n### {section}\n\n{table(value)}")
        elif isinstance(value, dict):
            print(f"\n### {section}\n\n```\n{json.dumps(value, indent=2)}\n```")
        else:
            print(f"{section}: {value}")
    if json_path:
        json_path.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
