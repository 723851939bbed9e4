"""Shared pieces of the inference tests: models trained and converted by the project's own code, and
the inference function's AWS surroundings in moto (metadata table, artifact and capture buckets, the
capture Firehose stream with the embedded stack's partitioning)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from moto import mock_aws
from sklearn.datasets import load_diabetes
from sklearn.pipeline import Pipeline

from mlops import aws
from mlops.config import DatasetConfig
from mlops.definition import description as d
from mlops.definition.description import project_root
from mlops.drift.baseline import build_baseline
from mlops.entities import ArtifactRef, ModelVersion, utcnow
from mlops.local.context import LocalContext
from mlops.local.extensions import ExecutionEnvironment
from mlops.local.firehose import (
    delivery_stream_config,
    install_firehose_partitioning,
    uninstall_firehose_partitioning,
)
from mlops.ml.convert import to_bulk_onnx, to_onnx
from mlops.ml.features import prepare_features
from mlops.ml.training import train
from mlops.registry import Registry
from mlops.serving.spool import SpoolReader
from mlops.settings import load_settings
from mlops.signature import Signature
from mlops.signature_types import BULK_ARTIFACT
from mlops.storage import Storage
from tests.factories import TABLE, create_metadata_table, model_version

ARTIFACTS = "mlops-artifacts"
CAPTURE = "mlops-capture"
STREAM = "mlops-capture"
ROLE = "arn:aws:iam::123456789012:role/firehose"
HANDLER = project_root() / "functions" / "inference" / "handler.py"


# ---- models -------------------------------------------------------------------------------------


def churn_frame(rows: int = 400, seed: int = 7) -> pd.DataFrame:
    """A customer-churn table: numeric, boolean and categorical features, missing values, an identifier."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 73, rows)
    monthly = np.round(rng.uniform(20, 120, rows), 2)
    total = np.round(tenure * monthly * rng.uniform(0.9, 1.1, rows), 2).astype(float)
    total[rng.random(rows) < 0.05] = np.nan
    contract = rng.choice(["month-to-month", "one-year", "two-year"], rows, p=[0.5, 0.3, 0.2])
    payment = rng.choice(["card", "bank", "check"], rows).astype(object)
    payment[rng.random(rows) < 0.05] = None
    senior = rng.random(rows) < 0.2
    risk = (contract == "month-to-month") * 1.5 - tenure / 30 + monthly / 60 + senior * 0.5
    churned = np.where(risk + rng.normal(0, 0.5, rows) > 0.8, "yes", "no")
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(rows)],
            "tenure": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "contract": contract,
            "payment_method": payment,
            "senior": senior,
            "churned": churned,
        }
    )


CHURN_FEATURES = ["tenure", "monthly_charges", "total_charges", "contract", "payment_method", "senior"]


def diabetes_frame() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame


@dataclass(frozen=True)
class Trained:
    """A model as the pipeline leaves it: the fitted scikit-learn pipeline, its signature, model.onnx."""

    pipeline: Pipeline
    signature: Signature
    onnx: bytes
    metrics: dict[str, float]
    frame: pd.DataFrame
    bulk: bytes | None = None  # a tree ensemble's bulk graph (model.bulk.onnx)


def trained_version(
    name: str, version: int, model: Trained, artifacts: dict[str, ArtifactRef], **fields: Any
) -> ModelVersion:
    """The registry record of a trained model: its task, metrics and signature, with ``artifacts``."""
    return model_version(
        name,
        version,
        task=model.signature.task,
        metrics=model.metrics,
        artifacts=artifacts,
        signature=model.signature,
        **fields,
    )


def train_model(frame: pd.DataFrame, config: DatasetConfig, features: list[str]) -> Trained:
    trained = train(frame, config, features)
    onnx_bytes = to_onnx(trained.pipeline, trained.signature)
    return Trained(
        trained.pipeline, trained.signature, onnx_bytes, trained.metrics, frame, bulk=to_bulk_onnx(onnx_bytes)
    )


def train_churn(estimator: str = "logistic_regression", **params: Any) -> Trained:
    config = DatasetConfig(target="churned", estimator=estimator, params=params)
    return train_model(churn_frame(), config, CHURN_FEATURES)


def train_churn_with_region() -> Trained:
    """A churn model that requires a ``region`` column, which clients of the plain one do not send."""
    frame = churn_frame()
    frame["region"] = np.random.default_rng(3).choice(["north", "south"], len(frame))
    config = DatasetConfig(target="churned", estimator="logistic_regression")
    return train_model(frame, config, [*CHURN_FEATURES, "region"])


def train_diabetes() -> Trained:
    frame = diabetes_frame()
    config = DatasetConfig(target="target", task="regression", estimator="ridge")
    return train_model(frame, config, [c for c in frame.columns if c != "target"])


# ---- the function's surroundings in moto --------------------------------------------------------


def publish_model(
    registry: Registry,
    storage: Storage,
    name: str,
    model: Trained,
    promote: bool = True,
    baseline: bool = False,
) -> ModelVersion:
    """Register a trained model as the pipeline would: its artifacts (with ``baseline``, the drift
    baseline of its training frame too), its version, optionally production."""
    version = registry.models.next_model_version(name)
    prefix = f"models/{name}/v{version}"
    artifacts: dict[str, ArtifactRef] = {
        "onnx": storage.put(ARTIFACTS, f"{prefix}/model.onnx", model.onnx),
        "signature": storage.put(
            ARTIFACTS,
            f"{prefix}/signature.json",
            model.signature.model_dump_json().encode(),
            "application/json",
        ),
    }
    if model.bulk is not None:
        artifacts[BULK_ARTIFACT] = storage.put(ARTIFACTS, f"{prefix}/model.bulk.onnx", model.bulk)
    if baseline:
        artifacts["baseline"] = storage.put(
            ARTIFACTS,
            f"{prefix}/baseline.json",
            json.dumps(drift_baseline(model)).encode(),
            "application/json",
        )
    record = trained_version(
        name, version, model, artifacts, run_id=f"run-{uuid.uuid4().hex[:8]}", trained_at=utcnow()
    )
    registry.models.create_model_version(record)
    if promote:
        registry.models.move_alias(name, version, registry.models.get_alias(name), "promote")
    return record


def drift_baseline(model: Trained) -> dict[str, Any]:
    """The drift baseline of a model's training frame, built as the pipeline builds it."""
    features = prepare_features(model.frame, model.signature)
    kinds = {
        kind: [f.name for f in model.signature.features if f.kind == kind]
        for kind in ("numeric", "categorical")
    }
    return build_baseline(
        numeric={column: features[column].to_numpy() for column in kinds["numeric"]},
        categorical={column: features[column].to_numpy() for column in kinds["categorical"]},
        predictions=model.pipeline.predict(features),
        task=model.signature.task,
        classes=model.signature.classes,
    )


class InferenceStack:
    """The inference function cold-started against moto in an execution environment with its capture
    extension, and the registry operations around it."""

    def __init__(self, handler_module: ModuleType, environment: ExecutionEnvironment, spool_dir: str) -> None:
        self.module = handler_module
        self.environment = environment
        self.spool_dir = spool_dir
        self.registry = Registry(TABLE)
        self.storage = Storage()

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        context = LocalContext(function_name="mlops-inference")
        self.environment.invoke(context.aws_request_id, context.timeout_s)
        response: dict[str, Any] = self.module.handler(event, context)
        return response

    def shipped(self, timeout_s: float = 10.0) -> None:
        """Wait until the capture extension has shipped every spooled line."""
        deadline = time.monotonic() + timeout_s
        while SpoolReader(self.spool_dir).pending_bytes() > 0:
            assert time.monotonic() < deadline, "the capture extension did not ship the spool"
            time.sleep(0.02)

    def publish(
        self, name: str, model: Trained, promote: bool = True, baseline: bool = False
    ) -> ModelVersion:
        return publish_model(self.registry, self.storage, name, model, promote, baseline)

    def promote(self, name: str, version: int, action: str = "promote") -> None:
        self.registry.models.move_alias(name, version, self.registry.models.get_alias(name), action)

    def tamper(self, record: ModelVersion) -> None:
        """Overwrite model.onnx with other bytes, leaving the registry's sha256 as it was."""
        ref = record.artifacts["onnx"]
        aws.s3().put_object(Bucket=ref.bucket, Key=ref.key, Body=b"not the model that was registered")

    def captured(self, name: str) -> list[dict[str, Any]]:
        """Every capture line stored for ``name`` (under capture/<name>/<date>/), once shipped."""
        self.shipped()
        s3 = aws.s3()
        lines: list[dict[str, Any]] = []
        listing = s3.list_objects_v2(Bucket=CAPTURE, Prefix=f"capture/{name}/")
        for item in sorted(listing.get("Contents", []), key=lambda o: o["LastModified"]):
            body = s3.get_object(Bucket=CAPTURE, Key=item["Key"])["Body"].read().decode()
            assert body.endswith("\n"), item["Key"]
            lines.extend(json.loads(line) for line in body.splitlines())
        return lines

    def capture_keys(self) -> list[str]:
        listing = aws.s3().list_objects_v2(Bucket=CAPTURE)
        return [item["Key"] for item in listing.get("Contents", [])]


@contextmanager
def inference_stack(**settings: str) -> Iterator[InferenceStack]:
    """moto with the function's resources, then ``functions/inference/handler.py`` imported (its cold
    start) with ``settings`` as environment overrides."""
    saved = dict(os.environ)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    spool_dir = tempfile.mkdtemp(prefix="mlops-capture-")
    os.environ.update(
        {
            "CAPTURE_SPOOL_DIR": spool_dir,
            "CAPTURE_FLUSH_INTERVAL_S": "0",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "METADATA_TABLE": TABLE,
            "ARTIFACT_BUCKET": ARTIFACTS,
            "CAPTURE_STREAM": STREAM,
            "ALIAS_TTL_SECONDS": "0.2",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "mlops",
            **settings,
        }
    )
    try:
        with mock_aws():
            aws.reset_clients()
            load_settings.cache_clear()
            install_firehose_partitioning()
            create_metadata_table()
            for bucket in (ARTIFACTS, CAPTURE):
                aws.s3().create_bucket(Bucket=bucket)
            stream = d.CAPTURE_STREAM
            aws.firehose().create_delivery_stream(
                **delivery_stream_config(stream, lambda n: f"mlops-{n}", ROLE)
            )
            environment = ExecutionEnvironment("mlops-inference")
            try:
                environment.start(d.EXTENSIONS)
                yield InferenceStack(load_handler(), environment, spool_dir)
            finally:
                environment.shutdown()
    finally:
        shutil.rmtree(spool_dir, ignore_errors=True)
        uninstall_firehose_partitioning()
        aws.reset_clients()
        load_settings.cache_clear()
        os.environ.clear()
        os.environ.update(saved)


def load_handler() -> ModuleType:
    """A fresh import of the inference function, as a cold start does."""
    spec = importlib.util.spec_from_file_location(f"inference_handler_{uuid.uuid4().hex}", HANDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])
