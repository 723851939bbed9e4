"""Data capture: the rows each request predicted, for drift evaluation.

Format (one JSON object per line, one line per predicted row; the drift evaluation reads exactly this):

    {"request_id", "model", "version", "timestamp" (ISO-8601 UTC), "row" (index in the request),
     "features": {column: value}, "prediction": value, "probabilities": [...] (classifiers),
     "shortened": n (only when n > 0)}

Each text value is bounded (``mlops.bounds.bound_row``): past 256 characters it is kept as its start
and a digest, and ``shortened`` counts such values in the row, so one request cannot make a captured
line, and the drift evaluation reading it, as large as the longest value a client sends.

Delivery is Kinesis Data Firehose ``PutRecordBatch``: Firehose records hold newline-terminated lines,
split only where Firehose's limits require it (500 JSON objects per record, which is what its record
deaggregation for dynamic partitioning accepts, and 1,000 KiB per record). Firehose then writes them
under ``capture/<model>/<YYYY-MM-DD>/`` in the capture bucket (dynamic partitioning on the ``model``
field). Never one S3 object per request.

Sampling is per request (``capture_sample_rate``), so a captured request is always complete. The
function does not call Firehose: ``Capture`` hands each sampled request's lines to its sink, the
capture spool (``mlops.serving.spool``), and the capture extension (``mlops.serving.extension``) packs
and sends them off the request path with ``FirehoseSink``. Building the lines is kept apart from their
transport. A capture failure is logged and counted (``CaptureFailure``) and never fails the request.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt
import orjson

from mlops import aws
from mlops.bounds import bound_row
from mlops.serving import telemetry

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient

MAX_LINES_PER_RECORD = 500
MAX_RECORD_BYTES = 1_000 * 1024
MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 4 * 1024 * 1024


class CaptureError(Exception):
    """Firehose refused records even after a retry."""


class CaptureSink(Protocol):
    def put(self, records: list[bytes]) -> None: ...


class FirehoseSink:
    def __init__(self, stream: str, client: FirehoseClient | None = None) -> None:
        self.stream = stream
        self._client = client

    @property
    def firehose(self) -> FirehoseClient:
        return self._client or aws.firehose()

    def put(self, records: list[bytes]) -> None:
        for batch in _calls(records):
            pending = batch
            for _attempt in range(2):  # one retry of what Firehose throttled
                out = self.firehose.put_record_batch(
                    DeliveryStreamName=self.stream, Records=[{"Data": data} for data in pending]
                )
                if not out.get("FailedPutCount"):
                    break
                responses = out.get("RequestResponses", [])
                pending = [data for data, r in zip(pending, responses, strict=False) if r.get("ErrorCode")]
            else:
                raise CaptureError(f"Firehose refused {len(pending)} capture record(s).")


def _calls(records: list[bytes]) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    size = 0
    for data in records:
        if batch and (len(batch) == MAX_RECORDS_PER_CALL or size + len(data) > MAX_BYTES_PER_CALL):
            yield batch
            batch, size = [], 0
        batch.append(data)
        size += len(data)
    if batch:
        yield batch


def pack(lines: list[bytes]) -> list[bytes]:
    """Newline-terminated lines into as few Firehose records as the limits allow."""
    records: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        if current and (len(current) == MAX_LINES_PER_RECORD or size + len(line) + 1 > MAX_RECORD_BYTES):
            records.append(b"".join(current))
            current, size = [], 0
        current.append(line + b"\n")
        size += len(line) + 1
    if current:
        records.append(b"".join(current))
    return records


def capture_lines(
    request_id: str,
    model: str,
    version: int,
    timestamp: datetime,
    features: list[dict[str, Any]],
    predictions: list[Any],
    probabilities: list[list[float]] | None,
) -> list[bytes]:
    # orjson writes each line in one call, several times faster than the standard encoder; it writes
    # UTF-8 as is, and a non-finite float as null, so every line stays strict JSON.
    t = timestamp.astimezone(UTC)
    # ISO-8601 in milliseconds: %-formatting takes half of isoformat's time (format specifiers in
    # an f-string take longer than isoformat).
    fields = (t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond // 1000)
    stamp = "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % fields  # noqa: UP031
    dumps = orjson.dumps
    lines = []
    for row, values in enumerate(features):
        bounded, shortened = bound_row(values)
        line: dict[str, Any] = {
            "request_id": request_id,
            "model": model,
            "version": version,
            "timestamp": stamp,
            "row": row,
            "features": bounded,
            "prediction": predictions[row],
        }
        if probabilities is not None:
            line["probabilities"] = probabilities[row]
        if shortened:
            line["shortened"] = shortened
        lines.append(dumps(line))
    return lines


class Capture:
    def __init__(
        self,
        sink: CaptureSink | None,
        sample_rate: float,
        sample: Callable[[], float] = random.random,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sink = sink
        self.sample_rate = sample_rate
        self._sample = sample
        self._now = now

    def wanted(self) -> bool:
        if self.sink is None or self.sample_rate <= 0:
            return False
        return self.sample_rate >= 1 or self._sample() < self.sample_rate

    def capture(
        self,
        request_id: str,
        model: str,
        version: int,
        features: Callable[[], list[dict[str, Any]]],
        predictions: list[Any],
        probabilities: list[list[float]] | npt.NDArray[np.float64] | None,
    ) -> None:
        """Send one request's rows; ``features`` is called, and an array of probabilities turned into
        rows, only when the request is sampled."""
        if self.sink is None or not self.wanted():
            return
        try:
            rows = features()
            listed = probabilities.tolist() if isinstance(probabilities, np.ndarray) else probabilities
            lines = capture_lines(request_id, model, version, self._now(), rows, predictions, listed)
            self.sink.put(pack(lines))
        except Exception as error:
            telemetry.capture_failure(model, f"{type(error).__name__}: {error}")
            return
        telemetry.captured(model, len(rows))
