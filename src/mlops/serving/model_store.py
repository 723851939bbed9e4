"""The production models, loaded once per container and kept fresh.

``ModelStore.get(name)`` answers from memory; at most every ``alias_ttl_seconds`` it re-reads the
production alias from the metadata table, so a promotion or a rollback serves within that time without
a redeploy. A new version's ``model.onnx`` is downloaded and its sha256 checked against the registry
before use: an artifact that does not match (or does not load, or fails a first prediction) is refused,
logged and counted (``ArtifactIntegrityFailure`` / ``ModelLoadFailure``), and the version served so far
keeps serving; the next alias check tries again. Sessions of the current and the previous version are
kept, so a rollback right after a promotion needs no download. During a canary the alias also names a
candidate and its weight; ``route`` picks the variant per routing key (``mlops.serving.routing``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from mlops import aws
from mlops.errors import NotFound
from mlops.serving import telemetry
from mlops.serving.errors import ModelNotFound, ModelUnavailable, NoProductionModel, ServingError
from mlops.serving.features import FeatureBatch, FeatureLayout
from mlops.serving.records import (
    AliasLike,
    ArtifactRefLike,
    ModelVersionLike,
    alias_from_json,
    model_version_from_json,
    signature_from_json,
)
from mlops.serving.routing import CANDIDATE, PRODUCTION, to_candidate
from mlops.signature_types import BULK_ARTIFACT, BULK_MIN_ROWS, MISSING_CATEGORY, ONNX_ARTIFACT, SignatureLike
from mlops.storage import IntegrityError

if TYPE_CHECKING:
    from mlops.registry.model_reader import ModelReader
    from mlops.storage import Storage

ONNX_TO_V2 = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(float16)": "FP16",
    "tensor(int64)": "INT64",
    "tensor(int32)": "INT32",
    "tensor(int16)": "INT16",
    "tensor(int8)": "INT8",
    "tensor(uint8)": "UINT8",
    "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES",
}
_EXPECTED_INPUT = {"numeric": "tensor(float)", "categorical": "tensor(string)"}
_VERSIONS_KEPT = 3  # the serving version, the one before it (instant rollback) and a canary's candidate
_UNKNOWN_NAMES_KEPT = 1024
MAX_NAME_BYTES = 1024  # negative answers cached, bounded against floods of random names


def _possible_name(name: str) -> bool:
    """Whether a model could have this name: dataset names are S3 key segments (at most 1,024 bytes of
    UTF-8), and longer ones would exceed the metadata table's key size before reaching it."""
    try:
        return 0 < len(name.encode("utf-8")) <= MAX_NAME_BYTES
    except UnicodeEncodeError:
        return False


class ModelLoadError(Exception):
    """A model version that cannot serve: no ONNX artifact, an unreadable graph, a broken signature."""


def version_artifacts(
    record: ModelVersionLike, read: Callable[[ArtifactRefLike], bytes], refuse: type[Exception]
) -> tuple[ArtifactRefLike, bytes, SignatureLike]:
    """A version's ONNX graph (its reference and bytes, ``read`` checks the sha256) and its signature
    (inline, else the full document the record points to); ``refuse`` names what the record lacks."""
    onnx_ref = record.artifacts.get(ONNX_ARTIFACT)
    if onnx_ref is None:
        raise refuse(f"Model '{record.name}' version {record.version} has no ONNX artifact.")
    data = read(onnx_ref)
    signature = record.signature
    if signature is None:
        signature_ref = record.artifacts.get("signature")
        if signature_ref is None:
            raise refuse(f"Model '{record.name}' version {record.version} has no signature.")
        signature = signature_from_json(read(signature_ref))
    return onnx_ref, data, signature


def session_options() -> ort.SessionOptions:
    """Tuned for one request at a time: a Lambda container runs one invocation at once and a 1 GB
    function has well under two vCPUs, so one intra-op thread avoids thread hand-offs that cost more
    than they save on single rows (bench/bench_inference.py measures it)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


@dataclass(frozen=True)
class Prediction:
    labels: npt.NDArray[Any] | None = None
    probabilities: npt.NDArray[np.float32] | None = None
    values: npt.NDArray[np.float32] | None = None

    @property
    def outputs(self) -> npt.NDArray[Any]:
        if self.labels is not None:
            return self.labels
        assert self.values is not None
        return self.values

    def prediction_list(self) -> list[Any]:
        """Labels or values as JSON-ready Python values (a non-finite regression value is null)."""
        if self.labels is not None:
            return list(self.labels.tolist())
        assert self.values is not None
        values: list[Any] = self.values.tolist()
        if not np.isfinite(self.values).all():
            values = [v if np.isfinite(v) else None for v in values]
        return values


class LoadedModel:
    """One model version with its onnxruntime session, ready to predict."""

    def __init__(
        self,
        record: ModelVersionLike,
        signature: SignatureLike,
        session: ort.InferenceSession,
        sha256: str,
        deployed_at: datetime | None = None,
        bulk: Callable[[], ort.InferenceSession | None] | None = None,
    ) -> None:
        self.record = record
        self.name = record.name
        self.version = record.version
        self.signature = signature
        self.layout = FeatureLayout(signature)
        self.session = session
        self.sha256 = sha256
        self.deployed_at = deployed_at
        self.is_classifier = signature.task == "classification"
        self.classes = list(signature.classes or [])
        inputs = {i.name: i.type for i in session.get_inputs()}
        for spec in signature.features:
            if spec.input_name not in inputs:
                raise ModelLoadError(f"The ONNX graph has no input '{spec.input_name}' for '{spec.name}'.")
            if inputs[spec.input_name] != _EXPECTED_INPUT[spec.kind]:
                raise ModelLoadError(
                    f"ONNX input '{spec.input_name}' is {inputs[spec.input_name]}; a {spec.kind} feature "
                    f"must be {_EXPECTED_INPUT[spec.kind]}."
                )
        self._numeric_inputs = [f.input_name for f in self.layout.numeric]
        self._categorical_names = [f.name for f in self.layout.categorical]
        self._categorical_inputs = [f.input_name for f in self.layout.categorical]
        # One-row requests (the common online case) reuse a feed built once: its arrays are filled in
        # place, which saves building 20-odd arrays per request. The lock guards the buffers when
        # requests run in threads (the local HTTP server); a request that finds them busy builds its
        # own feed.
        self._one_row_lock = threading.Lock()
        self._one_row_numeric = np.zeros((len(self._numeric_inputs), 1, 1), dtype=np.float32)
        self._one_row_strings = np.full((len(self._categorical_inputs), 1, 1), MISSING_CATEGORY, dtype=object)
        self._one_row_feed: dict[str, npt.NDArray[Any]] = {
            **dict(zip(self._numeric_inputs, self._one_row_numeric, strict=True)),
            **dict(zip(self._categorical_inputs, self._one_row_strings, strict=True)),
        }
        outputs = {o.name: o.type for o in session.get_outputs()}
        if self.is_classifier:
            wanted = [signature.label_output]
            if signature.probabilities_output:
                wanted.append(signature.probabilities_output)
        else:
            wanted = [signature.value_output or "variable"]
        missing = [name for name in wanted if name not in outputs]
        if missing:
            raise ModelLoadError(f"The ONNX graph has no output {missing[0]!r}.")
        self._output_names = wanted
        self.output_types = {name: outputs[name] for name in wanted}
        # A tree ensemble's bulk graph, built by ``bulk`` when the first large batch comes.
        self._bulk_loader = bulk
        self._bulk_session: ort.InferenceSession | None = None
        self._bulk_lock = threading.Lock()

    def bulk_session(self) -> ort.InferenceSession | None:
        """The bulk graph's session, built once on first use; None for a version without one, or when
        it did not load (then the graph every request takes scores large batches too)."""
        if self._bulk_loader is not None:
            with self._bulk_lock:
                loader, self._bulk_loader = self._bulk_loader, None  # tried once
                if loader is not None:
                    session = loader()
                    outputs = set() if session is None else {o.name for o in session.get_outputs()}
                    if session is not None and outputs.issuperset(self._output_names):
                        self._bulk_session = session
        return self._bulk_session

    def feed(self, batch: FeatureBatch) -> dict[str, npt.NDArray[Any]]:
        feed: dict[str, npt.NDArray[Any]] = {}
        if self._numeric_inputs:
            # One float32 copy, feature-major [F, N, 1]: iterating it yields each feature's [N, 1]
            # input as a contiguous view, with no per-feature reshape.
            columns = np.ascontiguousarray(batch.numeric.T, dtype=np.float32)[:, :, np.newaxis]
            feed.update(zip(self._numeric_inputs, columns, strict=True))
        for name, input_name in zip(self._categorical_names, self._categorical_inputs, strict=True):
            values = batch.categorical[name]
            cells = [MISSING_CATEGORY if v is None else v for v in values] if None in values else values
            feed[input_name] = np.array(cells, dtype=object)[:, np.newaxis]
        return feed

    def predict(self, batch: FeatureBatch) -> Prediction:
        if batch.rows == 1 and self._one_row_lock.acquire(blocking=False):
            try:
                if self._numeric_inputs:
                    self._one_row_numeric[:, 0, 0] = batch.numeric[0]
                if self._categorical_names:
                    self._one_row_strings[:, 0, 0] = [
                        MISSING_CATEGORY if values[0] is None else values[0]
                        for values in map(batch.categorical.__getitem__, self._categorical_names)
                    ]
                outputs = self.session.run(self._output_names, self._one_row_feed)
            finally:
                self._one_row_lock.release()
        else:
            bulk = self.bulk_session() if batch.rows >= BULK_MIN_ROWS else None
            outputs = (bulk or self.session).run(self._output_names, self.feed(batch))
        if self.is_classifier:
            labels = np.asarray(outputs[0]).reshape(-1)
            probabilities = np.asarray(outputs[1]) if len(outputs) > 1 else None
            return Prediction(labels=labels, probabilities=probabilities)
        return Prediction(values=np.asarray(outputs[0]).reshape(-1))

    def warm_up(self) -> None:
        """One prediction on an all-missing row: pays the first-run allocations at load, and proves the
        graph runs before it serves."""
        batch = FeatureBatch(
            rows=1,
            numeric=np.full((1, len(self.layout.numeric)), np.nan),
            categorical={f.name: [None] for f in self.layout.categorical},
        )
        self.predict(batch)


class ModelSource(Protocol):
    """Where models come from: the registry and the artifact bucket in the cloud, anything in tests."""

    def model_names(self) -> list[str]: ...

    def production_alias(self, name: str) -> AliasLike | None: ...

    def has_versions(self, name: str) -> bool: ...

    def model_version(self, name: str, version: int) -> ModelVersionLike: ...

    def artifact(self, ref: ArtifactRefLike) -> bytes:
        """The artifact's bytes, verified against ``ref.sha256`` (raises ``IntegrityError``)."""
        ...


class RegistrySource:
    """The cloud's ``ModelSource``: the model records' stored documents (``ModelReader``, so the function
    imports neither the registry's stores nor pydantic) and the artifacts bucket. A throttled, failing or
    unreachable table is ``DependencyUnavailable`` (the storage adapter says so of S3 itself)."""

    def __init__(self, records: ModelReader, storage: Storage) -> None:
        self.records = records
        self.storage = storage

    def model_names(self) -> list[str]:
        with aws.unavailable_as("DynamoDB"):
            return self.records.list_model_names()

    def production_alias(self, name: str) -> AliasLike | None:
        with aws.unavailable_as("DynamoDB"):
            document = self.records.alias_document(name, consistent=False)
        return None if document is None else alias_from_json(document)

    def has_versions(self, name: str) -> bool:
        with aws.unavailable_as("DynamoDB"):
            return self.records.has_model_versions(name)

    def model_version(self, name: str, version: int) -> ModelVersionLike:
        with aws.unavailable_as("DynamoDB"):
            document = self.records.model_version_document(name, version)
        if document is None:
            raise NotFound(f"Model '{name}' has no version {version}.")
        return model_version_from_json(document)

    def artifact(self, ref: ArtifactRefLike) -> bytes:
        return self.storage.get_verified(ref)


@dataclass
class _Entry:
    model: LoadedModel | None
    error: ServingError | None
    fresh_until: float
    candidate: LoadedModel | None = None
    weight: float = 0.0


class ModelStore:
    def __init__(
        self,
        source: ModelSource,
        alias_ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        options: Callable[[], ort.SessionOptions] = session_options,
    ) -> None:
        self.source = source
        self.ttl = alias_ttl_s
        self._clock = clock
        self._options = options
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._versions: dict[str, OrderedDict[int, LoadedModel]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> LoadedModel:
        """The production model of ``name``; raises ModelNotFound, NoProductionModel or ModelUnavailable."""
        model = self._entry(name).model
        assert model is not None
        return model

    def route(self, name: str, key: str) -> tuple[LoadedModel, str | None]:
        """The model that answers the request with routing ``key``, and its variant (None: no canary)."""
        entry = self._entry(name)
        candidate = entry.candidate
        assert entry.model is not None
        if candidate is None:
            return entry.model, None
        if to_candidate(key, candidate.version, entry.weight):
            return candidate, CANDIDATE
        return entry.model, PRODUCTION

    def _entry(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is None and not _possible_name(name):
            shown = name if len(name) <= 60 else name[:57] + "..."
            raise ModelNotFound(f"No model named '{shown}'.")
        if entry is None or self._clock() >= entry.fresh_until:
            with self._lock:
                entry = self._entries.get(name)
                if entry is None or self._clock() >= entry.fresh_until:
                    entry = self._refresh(name, entry)
        if entry.model is None:
            assert entry.error is not None
            raise entry.error
        return entry

    def preload(self) -> list[LoadedModel]:
        """Every model with a production version, loaded and warmed (SnapStart's before-snapshot hook);
        one that cannot serve is logged, counted and skipped, as a request would find it."""
        for name in self.source.model_names():
            try:
                self.get(name)
            except ServingError:
                continue
        return self.loaded()

    def expire(self) -> None:
        """Re-read every production alias on its next request (after a SnapStart restore, which may
        come long after the snapshot the freshness was computed in)."""
        with self._lock:
            for entry in self._entries.values():
                entry.fresh_until = float("-inf")

    def loaded(self) -> list[LoadedModel]:
        with self._lock:
            return [e.model for e in self._entries.values() if e.model is not None]

    def _remember(self, name: str, entry: _Entry) -> _Entry:
        self._entries[name] = entry
        self._entries.move_to_end(name)
        if entry.model is None:
            unknown = [k for k, e in self._entries.items() if e.model is None]
            for stale in unknown[: max(0, len(unknown) - _UNKNOWN_NAMES_KEPT)]:
                del self._entries[stale]
        return entry

    def _refresh(self, name: str, entry: _Entry | None) -> _Entry:
        fresh_until = self._clock() + self.ttl
        serving = entry.model if entry else None
        try:
            alias = self.source.production_alias(name)
        except Exception:
            if serving is None:
                raise
            # The registry is unreachable: keep serving what we have and ask again after the TTL.
            telemetry.load_failure(name, serving.version, "the production alias could not be read")
            assert entry is not None
            return self._remember(name, _Entry(serving, None, fresh_until, entry.candidate, entry.weight))
        fresh = self._refresh_production(name, alias, serving, fresh_until)
        # A shadow's candidate sits in the alias at weight 0: it answers nothing, so it is not loaded.
        if alias is None or alias.candidate is None or alias.candidate_weight <= 0 or fresh.model is None:
            return fresh
        candidate = self._version(name, alias.candidate, alias.updated_at, fresh.model)
        if candidate is not None:
            fresh.candidate, fresh.weight = candidate, alias.candidate_weight
        return fresh

    def _version(
        self, name: str, version: int, deployed_at: datetime, serving: LoadedModel | None
    ) -> LoadedModel | None:
        """A kept session of ``version``, else loaded now (None when it cannot load)."""
        kept = self._versions.setdefault(name, OrderedDict())
        model = kept.get(version)
        if model is None:
            model = self._load(name, version, deployed_at, serving)
            if model is None:
                return None
            kept[version] = model
            while len(kept) > _VERSIONS_KEPT:
                kept.popitem(last=False)
        kept.move_to_end(version)
        return model

    def _refresh_production(
        self, name: str, alias: AliasLike | None, serving: LoadedModel | None, fresh_until: float
    ) -> _Entry:
        if alias is None:
            if self.source.has_versions(name):
                error: ServingError = NoProductionModel(
                    f"Model '{name}' has no production version yet; promote one first."
                )
            else:
                error = ModelNotFound(f"No model named '{name}'.")
            return self._remember(name, _Entry(None, error, fresh_until))
        if serving is not None and serving.version == alias.version:
            return self._remember(name, _Entry(serving, None, fresh_until))
        model = self._version(name, alias.version, alias.updated_at, serving)
        if model is None:
            if serving is not None:
                return self._remember(name, _Entry(serving, None, fresh_until))
            error = ModelUnavailable(
                f"Model '{name}' version {alias.version} cannot be loaded and no earlier version is "
                "serving; see the function's logs."
            )
            return self._remember(name, _Entry(None, error, fresh_until))
        return self._remember(name, _Entry(model, None, fresh_until))

    def _load(
        self, name: str, version: int, deployed_at: datetime, serving: LoadedModel | None
    ) -> LoadedModel | None:
        started = time.perf_counter()
        try:
            record = self.source.model_version(name, version)
            onnx_ref, data, signature = version_artifacts(record, self.source.artifact, ModelLoadError)
            try:
                session = ort.InferenceSession(data, self._options(), providers=["CPUExecutionProvider"])
            except Exception as error:
                raise ModelLoadError(f"onnxruntime cannot load the graph: {error}") from error
            bulk_ref = record.artifacts.get(BULK_ARTIFACT)
            bulk = None if bulk_ref is None else partial(self._load_bulk, name, version, bulk_ref)
            model = LoadedModel(
                record, signature, session, onnx_ref.sha256, deployed_at=deployed_at, bulk=bulk
            )
            try:
                model.warm_up()
            except Exception as error:
                raise ModelLoadError(f"The graph fails on a first prediction: {error}") from error
        except IntegrityError as error:
            telemetry.integrity_failure(name, version, str(error))
            return None
        except (ModelLoadError, NotFound, ValueError) as error:
            telemetry.load_failure(name, version, str(error))
            return None
        except Exception as error:
            if serving is None:
                raise
            telemetry.load_failure(name, version, f"{type(error).__name__}: {error}")
            return None
        telemetry.model_loaded(name, version, time.perf_counter() - started, onnx_ref.size)
        return model

    def _load_bulk(self, name: str, version: int, ref: ArtifactRefLike) -> ort.InferenceSession | None:
        """A version's bulk graph as a session, or None (logged): large batches then take the graph
        every request takes, which gives the same answers more slowly."""
        started = time.perf_counter()
        try:
            session = ort.InferenceSession(
                self.source.artifact(ref), self._options(), providers=["CPUExecutionProvider"]
            )
        except IntegrityError as error:
            telemetry.integrity_failure(name, version, str(error))
            return None
        except Exception as error:
            telemetry.load_failure(name, version, f"bulk graph: {type(error).__name__}: {error}")
            return None
        telemetry.model_loaded(name, version, time.perf_counter() - started, ref.size)
        return session
