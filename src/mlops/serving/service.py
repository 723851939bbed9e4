"""The inference service behind the HTTP routes: request bodies in, JSON documents out.

The predict paths are lean on purpose: the body is parsed once (orjson; a large ``records`` body by the
model's typed decoder, ``mlops.serving.records_decoder``), rows go straight into numpy arrays checked
against the signature (``mlops.serving.features``), and the response is serialised once; no
per-request pydantic models (bench/bench_inference.py measures why).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt
import orjson

# The model records' documents alone: the registry's stores would import every record class and pydantic.
from mlops.registry.model_reader import ModelReader
from mlops.registry.table import Table
from mlops.serving import telemetry, v2
from mlops.serving.capture_writer import Capture
from mlops.serving.errors import InvalidInput, PayloadTooLarge, ServingError
from mlops.serving.features import FeatureBatch, parse_predict_text
from mlops.serving.model_store import LoadedModel, ModelStore, Prediction, RegistrySource
from mlops.serving.routing import CANDIDATE, PRODUCTION, Publisher, VariantStats
from mlops.serving.spool import writer_for
from mlops.storage import Storage

if TYPE_CHECKING:
    from mlops.serving.settings import InferenceSettings


def _dumps(document: Any) -> str:
    """The response as compact JSON: orjson writes a 10,000-row answer several times faster than the
    standard encoder, and a non-finite float as null (the standard one writes NaN, which is not JSON)."""
    return orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


Parsed = TypeVar("Parsed")


@dataclass(frozen=True)
class Limits:
    max_batch_rows: int
    max_payload_bytes: int


def read_body(body: str | bytes | None, base64_encoded: bool, limit: int) -> str | bytes:
    """The request body's text, base64-decoded if marked so, within the payload limit (in bytes of the
    decoded body)."""
    if body is None or body == "" or body == b"":
        raise InvalidInput("The request body is empty; send a JSON object.")
    raw: str | bytes = body
    if base64_encoded:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("The request body is marked base64 but is not valid base64.") from None
    size = len(raw)
    if isinstance(raw, str) and size * 4 > limit:  # characters can take up to 4 bytes in UTF-8
        size = len(raw.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise PayloadTooLarge(f"The request body is {size} bytes; the limit is {limit} bytes.")
    return raw


def load_json(raw: str | bytes) -> Any:
    """The body's text parsed as JSON; malformed JSON is refused with the position of the fault."""
    try:
        # orjson parses large bodies faster (docs/performance.md, "Batches"); what it refuses (NaN and
        # Infinity literals, which requests may send, and malformed bodies) goes to the standard parser,
        # which reads the one and names the fault in the other.
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"The request body is not valid JSON: {error.msg} at position {error.pos}."
        ) from None
    except (ValueError, RecursionError) as error:  # bad UTF-8, nesting too deep, integers too long
        raise InvalidInput(f"The request body is not valid JSON: {error}.") from None


_UNPARSED = object()


class PredictText:
    """A predict body's text, parsed as JSON at most once, when a model's parse asks for it (a large
    body of clean records is decoded without it, ``parse_predict_text``)."""

    def __init__(self, raw: str | bytes) -> None:
        self.raw = raw
        self._parsed: Any = _UNPARSED

    def parsed(self) -> Any:
        if self._parsed is _UNPARSED:
            self._parsed = load_json(self.raw)
        return self._parsed

    def batch(self, model: LoadedModel, max_rows: int) -> FeatureBatch:
        return parse_predict_text(model.layout, self.raw, self.parsed, max_rows)


class InferenceService:
    def __init__(
        self, store: ModelStore, capture: Capture, limits: Limits, stats: VariantStats | None = None
    ) -> None:
        self.store = store
        self.capture = capture
        self.limits = limits
        self.stats = stats

    @classmethod
    def from_settings(cls, settings: InferenceSettings) -> InferenceService:
        source = RegistrySource(ModelReader(Table(settings.metadata_table)), Storage())
        # Captured lines go to the spool; the capture extension ships them (mlops.serving.extension).
        sink = writer_for(settings.capture_spool_dir) if settings.capture_stream else None
        return cls(
            ModelStore(source, settings.alias_ttl_seconds),
            Capture(sink, settings.capture_sample_rate),
            Limits(settings.max_batch_rows, settings.max_payload_bytes),
            VariantStats(
                cloudwatch_publisher(settings.powertools_metrics_namespace),
                settings.variant_metrics_interval_seconds,
            ),
        )

    def model(self, name: str) -> LoadedModel:
        return self.store.get(name)

    def predict(self, name: str, body: str | bytes | None, base64_encoded: bool, request_id: str) -> str:
        return self.predict_routed(name, body, base64_encoded, request_id)[0]

    def predict_routed(
        self,
        name: str,
        body: str | bytes | None,
        base64_encoded: bool,
        request_id: str,
        routing_key: str | None = None,
    ) -> tuple[str, dict[str, str]]:
        """The response and its ``X-Model-Version`` / ``X-Model-Variant`` headers. During a canary the
        routing key (else the request id) picks the variant; a request the candidate refuses or fails
        on, which production answers, counts against the candidate and gets production's answer."""
        started = time.perf_counter()
        # The body's size first, then the model, then the body itself: a large body is read by the
        # model's own decoder (``parse_predict_text``).
        text = PredictText(read_body(body, base64_encoded, self.limits.max_payload_bytes))
        model, variant = self.store.route(name, routing_key or request_id)
        max_rows = self.limits.max_batch_rows
        if variant == CANDIDATE:
            model, variant, batch, prediction = self._candidate_or_production(
                name, model, lambda m: text.batch(m, max_rows), _itself
            )
        else:
            batch = text.batch(model, max_rows)
            prediction = model.predict(batch)
        predictions = prediction.prediction_list()
        probabilities = _probability_rows(prediction)
        response: dict[str, Any] = {"model": name, "version": model.version, "predictions": predictions}
        if probabilities is not None:
            response["probabilities"] = probabilities
        if batch.unseen:
            response["unseen_categories"] = batch.unseen
        if variant is not None:
            response["variant"] = variant
        answer = _dumps(response)
        return answer, self._served(model, variant, batch, started, request_id, predictions, probabilities)

    def _candidate_or_production(
        self,
        name: str,
        candidate: LoadedModel,
        parse: Callable[[LoadedModel], Parsed],
        batch_of: Callable[[Parsed], FeatureBatch],
    ) -> tuple[LoadedModel, str, Parsed, Prediction]:
        try:
            parsed = parse(candidate)
            return candidate, CANDIDATE, parsed, candidate.predict(batch_of(parsed))
        except Exception as error:
            production = self.store.get(name)
            # Input production refuses too is the client's error, not the candidate's.
            parsed = parse(production)
            prediction = production.predict(batch_of(parsed))
            if self.stats is not None:
                self.stats.record(name, CANDIDATE, candidate.version, None, True)
            if not isinstance(error, ServingError):
                telemetry.load_failure(name, candidate.version, f"the candidate failed: {error}")
            return production, PRODUCTION, parsed, prediction

    def infer(self, name: str, body: str | bytes | None, base64_encoded: bool, request_id: str) -> str:
        """The production version's answer (the route that names a version)."""
        return self.infer_routed(name, body, base64_encoded, request_id, routed=False)[0]

    def infer_routed(
        self,
        name: str,
        body: str | bytes | None,
        base64_encoded: bool,
        request_id: str,
        routing_key: str | None = None,
        routed: bool = True,
    ) -> tuple[str, dict[str, str]]:
        """Open Inference Protocol inference, routed during a canary like ``predict_routed`` (the
        protocol's body has no variant field: the headers name it)."""
        started = time.perf_counter()
        raw = read_body(body, base64_encoded, self.limits.max_payload_bytes)
        if routed:
            model, variant = self.store.route(name, routing_key or request_id)
        else:
            model, variant = self.store.get(name), None
        payload = load_json(raw)  # after the look-up, as on the predict route

        def parse(m: LoadedModel) -> v2.InferRequest:
            return v2.parse_infer_request(m, payload, self.limits.max_batch_rows)

        if variant == CANDIDATE:
            model, variant, request, prediction = self._candidate_or_production(
                name, model, parse, _batch_of_request
            )
        else:
            request = parse(model)
            prediction = model.predict(request.batch)
        predictions = prediction.prediction_list()
        text = _dumps(v2.infer_response(model, request, prediction, predictions))
        probabilities = _probability_rows(prediction)
        return text, self._served(
            model, variant, request.batch, started, request_id, predictions, probabilities
        )

    def _served(
        self,
        model: LoadedModel,
        variant: str | None,
        batch: FeatureBatch,
        started: float,
        request_id: str,
        predictions: list[Any],
        probabilities: npt.NDArray[np.float64] | None,
    ) -> dict[str, str]:
        """After the answer is built: telemetry, the variant's figures, capture; the response headers."""
        self._done(model, batch.rows, started, sum(map(len, batch.unseen.values())))
        if variant is not None and self.stats is not None:
            self.stats.record(
                model.name, variant, model.version, (time.perf_counter() - started) * 1000, False
            )
        self.capture.capture(
            request_id,
            model.name,
            model.version,
            lambda: batch.feature_rows(model.layout),
            predictions,
            probabilities,
        )
        return {"X-Model-Version": str(model.version), "X-Model-Variant": variant or PRODUCTION}

    @staticmethod
    def _done(model: LoadedModel, rows: int, started: float, unseen: int) -> None:
        latency_ms = (time.perf_counter() - started) * 1000
        telemetry.prediction(model.name, model.version, rows, latency_ms, unseen)


def _itself(batch: FeatureBatch) -> FeatureBatch:
    return batch


def _batch_of_request(request: v2.InferRequest) -> FeatureBatch:
    return request.batch


def _probability_rows(prediction: Prediction) -> npt.NDArray[np.float64] | None:
    """The probabilities as float64 rows: orjson writes the array as fast as C (the nested lists of
    ``tolist`` took ~5 ms and 10,000 objects for the collector on a 10,000-row answer), with the same
    digits as Python floats (float32 values widened, as ``tolist`` does) and null for a non-finite one."""
    if prediction.probabilities is None:
        return None
    return prediction.probabilities.astype(np.float64)


def model_document(model: LoadedModel) -> dict[str, Any]:
    """``GET /models/{name}``: what serves, what it takes, what it gives."""
    record = model.record
    return {
        "model": model.name,
        "version": model.version,
        "task": model.signature.task,
        "target": model.signature.target,
        "features": [
            {
                "name": f.name,
                "kind": f.kind,
                "dtype": f.dtype,
                "nullable": f.nullable,
                "categories": f.categories,
            }
            for f in model.signature.features
        ],
        "classes": model.signature.classes,
        "metrics": record.metrics,
        "trained_at": (record.trained_at or record.created_at).isoformat(),
        "created_at": record.created_at.isoformat(),
        "deployed_at": model.deployed_at.isoformat() if model.deployed_at else None,
        "dataset_version": record.dataset_version,
        "run_id": record.run_id,
        "onnx_sha256": model.sha256,
    }


def cloudwatch_publisher(namespace: str) -> Publisher:
    """Publishes the canary's variant figures (here, not in routing: only this function publishes)."""

    def publish(data: list[dict[str, Any]]) -> None:
        from mlops import aws

        cloudwatch = aws.cloudwatch()
        for start in range(0, len(data), 1000):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + 1000])  # type: ignore[arg-type]

    return publish
