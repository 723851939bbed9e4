"""Shadow rollouts and the ground-truth guardrail, both judged from captured traffic.

A shadow candidate never sees a live request: the inference function answers with production and
captures each row as always (``mlops.serving.capture_writer``). The rollout's checks replay the captured
requests of production since the rollout started through the candidate's ONNX session, request by
request, and compare: prediction agreement (classification) or relative error (regression) against
what production answered, the share of requests the candidate refuses or fails on, and the p99
latency of both replayed the same way. The production request pays nothing.

Ground truth is what users upload under ``ground-truth/<model>/`` in the capture bucket (CSV or JSON
Lines, keyed by the request id a client got back in ``x-amzn-RequestId`` and the row's index), read
by ``mlops.labels`` as drift's live quality reads it. Joined with the captured rows, it gives each
variant's live accuracy (classification) or RMSE (regression) on the same kind of traffic: a canary's
candidate and production on the rows each answered, a shadow candidate and production on the very
same rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlops.drift.baseline import class_key
from mlops.drift.capture_reader import CaptureReader, iter_records, parse_timestamp
from mlops.entities import Rollout
from mlops.labels import LabelKey, LabelReader, Labels
from mlops.registry import Registry
from mlops.rollout_gates import MAX_REPLAYED_REQUESTS, GroundTruth, ShadowFigures
from mlops.serving.features import parse_predict_body
from mlops.serving.routing import p99 as routing_p99
from mlops.signature import Signature
from mlops.storage import Storage

if TYPE_CHECKING:  # onnxruntime loads only where a candidate is scored (the rollout function)
    from mlops.serving.model_store import LoadedModel


@dataclass(frozen=True)
class Captured:
    """One captured request of a model version: its rows' features and what was answered."""

    request_id: str
    version: int
    at: datetime
    rows: list[dict[str, Any]]
    predictions: list[Any]


# ---- figures from captured traffic ---------------------------------------------------------------


def p99(values: list[float]) -> float | None:
    return routing_p99(values) if values else None


def _same(task: str, a: Any, b: Any) -> bool:
    return class_key(a) == class_key(b) if task == "classification" else False


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def score_truth(task: str, pairs: Iterable[tuple[Any, Any]]) -> tuple[float | None, int]:
    """Accuracy or RMSE of (prediction, label) pairs, and how many pairs counted."""
    if task == "classification":
        hits = [class_key(p) == class_key(label) for p, label in pairs]
        return (sum(hits) / len(hits) if hits else None), len(hits)
    squares = []
    for prediction, label in pairs:
        p, y = _number(prediction), _number(label)
        if p is not None and y is not None:
            squares.append((p - y) ** 2)
    return (math.sqrt(sum(squares) / len(squares)) if squares else None), len(squares)


def replay(
    candidate: LoadedModel,
    production: LoadedModel | None,
    requests: list[Captured],
    max_rows: int,
) -> tuple[ShadowFigures, list[tuple[str, int, Any]]]:
    """Score each captured request with the candidate (and production, for latency) as it was served.
    Returns the figures and the candidate's (request_id, row, prediction) for the ground-truth join."""
    task = candidate.signature.task
    errors = rows = agreed = 0
    relative: list[float] = []
    latencies: list[float] = []
    production_latencies: list[float] = []
    first_error: str | None = None
    scored: list[tuple[str, int, Any]] = []
    for request in requests:
        payload = {"records": request.rows}
        started = time.perf_counter()
        try:
            batch = parse_predict_body(candidate.layout, payload, max_rows)
            predictions = candidate.predict(batch).prediction_list()
        except Exception as error:  # a refusal (4xx) or a failure: the candidate's error either way
            errors += 1
            first_error = first_error or str(error)
            continue
        latencies.append((time.perf_counter() - started) * 1000)
        if production is not None:
            started = time.perf_counter()
            try:
                production.predict(parse_predict_body(production.layout, payload, max_rows))
                production_latencies.append((time.perf_counter() - started) * 1000)
            except Exception:  # production's own figure is for reference only
                pass
        for row, (mine, answered) in enumerate(zip(predictions, request.predictions, strict=False)):
            rows += 1
            scored.append((request.request_id, row, mine))
            if task == "classification":
                agreed += _same(task, mine, answered)
            else:
                a, b = _number(mine), _number(answered)
                if a is not None and b is not None:
                    relative.append(abs(a - b) / max(abs(b), 1e-9))
    figures = ShadowFigures(
        requests=len(requests),
        rows=rows,
        errors=errors,
        agreement=(agreed / rows if rows else None) if task == "classification" else None,
        relative_error=(sum(relative) / len(relative) if relative else None)
        if task != "classification"
        else None,
        p99_ms=p99(latencies),
        production_p99_ms=p99(production_latencies),
        first_error=first_error,
    )
    return figures, scored


class CapturedEvidence:
    """Evidence from the capture bucket: captured requests, the labels users uploaded (``mlops.labels``),
    and the candidate's ONNX from the artifact bucket."""

    def __init__(
        self, registry: Registry, capture_bucket: str, storage: Storage | None = None, max_rows: int = 10_000
    ) -> None:
        self.registry = registry
        self.reader = CaptureReader(capture_bucket)
        self.label_reader = LabelReader(capture_bucket)
        self.storage = storage or Storage()
        self.max_rows = max_rows
        self._models: dict[tuple[str, int], LoadedModel] = {}

    def model(self, name: str, version: int) -> LoadedModel:
        """The version's ONNX session (verified against the registry's sha256), kept across checks."""
        import onnxruntime as ort

        from mlops.serving.model_store import LoadedModel, session_options

        key = (name, version)
        if key not in self._models:
            record = self.registry.models.get_model_version(name, version)
            ref = record.artifacts["onnx"]
            signature = record.signature
            if signature is None:
                signature = Signature.model_validate_json(
                    self.storage.get_verified(record.artifacts["signature"])
                )
            session = ort.InferenceSession(
                self.storage.get_verified(ref), session_options(), providers=["CPUExecutionProvider"]
            )
            self._models[key] = LoadedModel(record, signature, session, ref.sha256)
        return self._models[key]

    def captured(self, name: str, versions: set[int], since: datetime, until: datetime) -> list[Captured]:
        """The captured requests of ``versions`` with since <= timestamp <= until, oldest first."""
        s3 = self.reader.s3
        found: dict[tuple[str, int, str], tuple[datetime, list[tuple[int, dict[str, Any], Any]]]] = {}
        for key in self.reader.list_keys(name, since, until):
            text = s3.get_object(Bucket=self.reader.bucket, Key=key)["Body"].read().decode("utf-8", "replace")
            for record in iter_records(text):
                if record is None or record.get("version") not in versions:
                    continue
                at = parse_timestamp(record.get("timestamp"))
                request_id, features, row = (
                    record.get("request_id"),
                    record.get("features"),
                    record.get("row", 0),
                )
                if at is None or not since <= at <= until:
                    continue
                if (
                    not isinstance(request_id, str)
                    or not isinstance(features, dict)
                    or not isinstance(row, int)
                ):
                    continue
                # One request's rows share its id and timestamp; the timestamp also keeps apart requests
                # that reuse an id (clients that send their own).
                request = (request_id, int(record["version"]), str(record.get("timestamp")))
                _, rows = found.setdefault(request, (at, []))
                rows.append((row, features, record.get("prediction")))
        requests = []
        for (request_id, version, _), (at, rows) in sorted(
            found.items(), key=lambda item: (item[1][0], item[0])
        ):
            rows.sort(key=lambda entry: entry[0])
            requests.append(
                Captured(request_id, version, at, [f for _, f, _ in rows], [p for _, _, p in rows])
            )
        return requests

    def labels(self, name: str, since: datetime, wanted: set[LabelKey]) -> Labels:
        """The labels of the ``wanted`` (request_id, row) pairs. Only objects written since the rollout
        began are read (a label of one of its requests cannot be older), and only wanted labels are
        kept, so a large or old label prefix costs a check neither its memory nor a re-read of every
        earlier upload."""
        return self.label_reader.read(name, since, wanted)

    def shadow(self, rollout: Rollout, until: datetime) -> tuple[ShadowFigures, GroundTruth | None]:
        assert rollout.baseline is not None
        requests = self.captured(rollout.name, {rollout.baseline}, rollout.started_at, until)
        wanted = min(rollout.shadow_requests or MAX_REPLAYED_REQUESTS, MAX_REPLAYED_REQUESTS)
        requests = requests[:wanted]
        candidate = self.model(rollout.name, rollout.version)
        if len(requests) < wanted:  # not yet: say how many arrived without scoring them
            return ShadowFigures(len(requests), 0, 0, None, None, None, None), None
        production = self.model(rollout.name, rollout.baseline)
        figures, scored = replay(candidate, production, requests, self.max_rows)
        labelled = {(r.request_id, row) for r in requests for row in range(len(r.predictions))}
        uploaded = self.labels(rollout.name, rollout.started_at, labelled)
        labels = uploaded.by_row
        answered = [
            (p, labels[(r.request_id, row)])
            for r in requests
            for row, p in enumerate(r.predictions)
            if (r.request_id, row) in labels
        ]
        mine = [(p, labels[(rid, row)]) for rid, row, p in scored if (rid, row) in labels]
        return figures, self._truth(candidate.signature.task, mine, answered, uploaded)

    def ground_truth(self, rollout: Rollout, until: datetime) -> GroundTruth | None:
        if rollout.baseline is None:
            return None
        requests = self.captured(rollout.name, {rollout.version, rollout.baseline}, rollout.started_at, until)
        wanted = {(r.request_id, row) for r in requests for row in range(len(r.predictions))}
        uploaded = self.labels(rollout.name, rollout.started_at, wanted)
        labels = uploaded.by_row
        if not labels and not uploaded.skipped:
            return None
        task = self.registry.models.get_model_version(rollout.name, rollout.version).task
        pairs: dict[int, list[tuple[Any, Any]]] = {rollout.version: [], rollout.baseline: []}
        for request in requests:
            for row, prediction in enumerate(request.predictions):
                if (request.request_id, row) in labels:
                    pairs[request.version].append((prediction, labels[(request.request_id, row)]))
        return self._truth(task, pairs[rollout.version], pairs[rollout.baseline], uploaded)

    @staticmethod
    def _truth(
        task: str, candidate: list[tuple[Any, Any]], production: list[tuple[Any, Any]], uploaded: Labels
    ) -> GroundTruth:
        mine, mine_rows = score_truth(task, candidate)
        theirs, their_rows = score_truth(task, production)
        metric = "accuracy" if task == "classification" else "rmse"
        return GroundTruth(metric, mine, theirs, mine_rows, their_rows, tuple(uploaded.skipped.most_common()))
