"""Reading captured traffic from the capture bucket into feature columns.

The inference function captures one JSON object per predicted row (``mlops.serving.capture_writer``):

    {"request_id", "model", "version", "timestamp" (ISO-8601 UTC), "row",
     "features": {column: value}, "prediction": value, "probabilities": [...] (classifiers)}

Firehose writes them under ``capture/<model>/<YYYY-MM-DD>/<object>``, newline-separated, possibly
several records run together in one object. ``CaptureReader.read`` lists the day prefixes the window
touches, streams every object in blocks of whole lines (a few objects read ahead, so memory does not
grow with an object's size), keeps the records of the model version evaluated whose timestamp lies
in the window, and builds one numpy column per feature of the model's signature: numeric as float64
with NaN for null, categorical as keys with ``""`` for null (the conventions of ``mlops.signature``),
held as codes into the distinct keys (``KeyedColumn``), each column grown in place. Blocks as the
inference function writes them are parsed by pyarrow (``mlops.drift.capture_blocks``) on a few
threads at once and added in their order; any other block record by record, with the same result.
Malformed lines and records are skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import math
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mlops import aws
from mlops.drift.baseline import KeyedColumn, category_key, class_key
from mlops.signature import Signature

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from mlops.drift.capture_blocks import ParsedBlock

CAPTURE_PREFIX = "capture/"
PREDICTION = "prediction"
REQUEST_ID = "request_id"
READ_WORKERS = 2
PARSE_AHEAD = 2
BLOCK_BYTES = 2 * 1024 * 1024
"""Objects are read in blocks of about this size cut at line breaks, so memory stays bounded
whatever the object's size (Firehose writes objects of 64 MiB and more)."""

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\r\n"


@dataclass
class CapturedTraffic:
    """The captured rows of one model version in one window, as columns."""

    features: dict[str, npt.NDArray[np.float64] | KeyedColumn]
    predictions: npt.NDArray[Any] | KeyedColumn
    """Class labels as class keys (``class_key``) or regression values as float64 with NaN for null."""
    request_ids: list[str]
    row_numbers: list[int]
    objects: int = 0
    malformed: int = 0
    other_versions: int = 0
    outside_window: int = 0

    @property
    def rows(self) -> int:
        return len(self.request_ids)


class _Growing:
    """An array appended to in place, its capacity doubled when full.

    Blocks of a few thousand rows appended as separate arrays and joined at the end hold each column
    twice at the join, and the small freed parts stay in the process's heap. A large array is its own
    mapping: the pages past the rows written are never touched (so not resident), and the array a
    doubling replaces goes back to the system at once.
    """

    def __init__(self, dtype: type[np.generic], capacity: int = 1 << 16) -> None:
        self.data: npt.NDArray[Any] = np.empty(capacity, dtype)
        self.size = 0

    def extend(self, values: npt.NDArray[Any]) -> None:
        end = self.size + values.shape[0]
        if end > self.data.shape[0]:
            grown = np.empty(max(end, 2 * self.data.shape[0]), self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : end] = values
        self.size = end

    def array(self) -> npt.NDArray[Any]:
        return self.data[: self.size]


class _Keyed:
    """A column of keys held as codes into its distinct keys: 4 bytes a row until the end."""

    def __init__(self, key: Callable[[object], str]) -> None:
        self.key = key
        self.codes_of: dict[str, int] = {}
        # Each distinct parsed value's code, by type and value (True, 1 and 1.0 key differently):
        # the same few categories come back in every block, and are keyed once.
        self.code_of_value: dict[tuple[type, object], int] = {}
        self.codes = _Growing(np.int32)

    def code(self, key: str) -> int:
        return self.codes_of.setdefault(key, len(self.codes_of))

    def add_values(self, values: list[Any]) -> None:
        self.codes.extend(np.array([self.code(self.key(v)) for v in values], dtype=np.int32))

    def add_encoded(self, values: list[Any], indices: npt.NDArray[np.int64]) -> None:
        """Rows given as indices into their distinct (hashable) values: each value keyed once."""
        known = self.code_of_value
        marked = [(value.__class__, value) for value in values]
        found = [known.get(mark) for mark in marked]
        for at, code in enumerate(found):
            if code is None:
                found[at] = known[marked[at]] = self.code(self.key(values[at]))
        codes = np.array(found, dtype=np.int32)
        self.codes.extend(codes[indices] if len(codes) else np.zeros(len(indices), np.int32))

    def column(self) -> KeyedColumn:
        return KeyedColumn(self.codes.array(), list(self.codes_of))


class _Numbers:
    def __init__(self) -> None:
        self.values = _Growing(np.float64)

    def add_values(self, values: list[Any]) -> None:
        self.values.extend(np.array([_number(v) for v in values], dtype=np.float64))

    def add_array(self, values: npt.NDArray[np.float64]) -> None:
        self.values.extend(values)

    def array(self) -> npt.NDArray[np.float64]:
        return self.values.array()


class _Columns:
    def __init__(self, signature: Signature) -> None:
        self.signature = signature
        self.features: dict[str, _Keyed | _Numbers] = {
            spec.name: _Numbers() if spec.kind == "numeric" else _Keyed(category_key)
            for spec in signature.features
        }
        self.predictions: _Keyed | _Numbers = (
            _Keyed(class_key) if signature.task == "classification" else _Numbers()
        )
        self.request_ids = _Keyed(str)
        self.row_numbers = _Growing(np.int64)

    def add_records(self, records: list[dict[str, Any]]) -> None:
        """Append rows already checked (features a dict, request_id a str, row an int)."""
        if not records:
            return
        for spec in self.signature.features:
            name = spec.name
            self.features[name].add_values([record["features"].get(name) for record in records])
        self.predictions.add_values([record.get("prediction") for record in records])
        self.request_ids.add_values([record["request_id"] for record in records])
        self.row_numbers.extend(np.array([record.get("row", 0) for record in records], dtype=np.int64))

    def add_block(self, block: ParsedBlock) -> None:
        for name, column in self.features.items():
            if isinstance(column, _Keyed):
                column.add_encoded(*block.keyed[name])
            else:
                column.add_array(block.numbers[name])
        if isinstance(self.predictions, _Keyed):
            self.predictions.add_encoded(*block.keyed[PREDICTION])
        else:
            self.predictions.add_array(block.numbers[PREDICTION])
        self.request_ids.add_encoded(*block.keyed[REQUEST_ID])
        self.row_numbers.extend(block.rows)

    def traffic(self, objects: int, counts: _Counts) -> CapturedTraffic:
        ids = np.array(list(self.request_ids.codes_of), dtype=object)
        codes = self.request_ids.codes.array()
        rows = self.row_numbers.array()
        return CapturedTraffic(
            features={
                name: column.column() if isinstance(column, _Keyed) else column.array()
                for name, column in self.features.items()
            },
            predictions=self.predictions.column()
            if isinstance(self.predictions, _Keyed)
            else self.predictions.array(),
            # One str object per request, shared by its rows.
            request_ids=ids[codes].tolist(),
            row_numbers=rows.tolist(),
            objects=objects,
            malformed=counts.malformed,
            other_versions=counts.other_versions,
            outside_window=counts.outside_window,
        )


@dataclass
class _Counts:
    malformed: int = 0
    other_versions: int = 0
    outside_window: int = 0


def _number(value: object) -> float:
    if value is None or isinstance(value, str | dict | list):
        # The inference function validated inputs as numbers; anything else is a missing value.
        if isinstance(value, str):
            try:
                parsed = float(value)
            except ValueError:
                return math.nan
            return parsed if math.isfinite(parsed) else math.nan
        return math.nan
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def iter_records(text: str) -> Iterator[dict[str, Any] | None]:
    """JSON objects from JSON Lines text, also when objects run together; None for each bad stretch.

    After a syntax error the reader skips to the next line break and goes on.
    """
    position = 0
    end = len(text)
    while position < end:
        while position < end and text[position] in _WHITESPACE:
            position += 1
        if position >= end:
            return
        try:
            value, position = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError:
            newline = text.find("\n", position)
            position = end if newline < 0 else newline + 1
            yield None
            continue
        yield value if isinstance(value, dict) else None


def parse_timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def day_prefixes(model: str, since: datetime, until: datetime) -> list[str]:
    """``capture/<model>/<YYYY-MM-DD>/`` for every UTC day the window touches."""
    first: date = since.astimezone(UTC).date()
    last: date = until.astimezone(UTC).date()
    days = (last - first).days
    return [f"{CAPTURE_PREFIX}{model}/{(first + timedelta(days=i)).isoformat()}/" for i in range(days + 1)]


class CaptureReader:
    def __init__(self, bucket: str, client: S3Client | None = None, workers: int = READ_WORKERS) -> None:
        self.bucket = bucket
        self._client = client
        self.workers = workers

    @property
    def s3(self) -> S3Client:
        return self._client or aws.s3()

    def list_keys(self, model: str, since: datetime, until: datetime) -> list[str]:
        keys: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for prefix in day_prefixes(model, since, until):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    def read(
        self, model: str, version: int, signature: Signature, since: datetime, until: datetime
    ) -> CapturedTraffic:
        """The captured rows of ``model`` version ``version`` with since <= timestamp <= until."""
        keys = self.list_keys(model, since, until)
        columns = _Columns(signature)
        counts = _Counts()
        # pyarrow loads at the first read, not at the function's cold start.
        from mlops.drift.capture_blocks import BlockParser

        parser = BlockParser(model, version, signature, since, until)

        def add(pieces: list[ParsedBlock | bytes]) -> None:
            for piece in pieces:
                if isinstance(piece, bytes):
                    text = piece.decode("utf-8", errors="replace")
                    _add_text(columns, counts, text, model, version, since, until)
                else:
                    counts.other_versions += piece.other_versions
                    counts.outside_window += piece.outside_window
                    columns.add_block(piece)

        # pyarrow parses without the GIL, so blocks are parsed on a few threads at once; they are
        # added in their order, and at most PARSE_AHEAD blocks a worker wait, so memory stays bounded.
        pending: deque[Future[list[ParsedBlock | bytes]]] = deque()
        with ThreadPoolExecutor(max_workers=self.workers) as parsers:
            for block in self.blocks(keys):
                if not parser.ready:
                    # Until a block fixed the label's type, blocks are parsed one at a time.
                    add(parser.parse_pieces(block))
                    continue
                pending.append(parsers.submit(parser.parse_pieces, block))
                if len(pending) > PARSE_AHEAD * self.workers:
                    add(pending.popleft().result())
            while pending:
                add(pending.popleft().result())
        parser.release_memory()
        return columns.traffic(len(keys), counts)

    def blocks(self, keys: list[str]) -> Iterator[bytes]:
        """Each object's bytes in blocks of whole lines, in key order; a few objects read ahead."""
        if not keys:
            return
        s3 = self.s3  # resolved once: the worker threads share one client
        stop = threading.Event()

        def fetch(key: str, out: queue.Queue[bytes | BaseException | None]) -> None:
            try:
                body = s3.get_object(Bucket=self.bucket, Key=key)["Body"]
                for chunk in body.iter_chunks(BLOCK_BYTES):
                    if not _put(out, chunk, stop):
                        return
                _put(out, None, stop)
            except BaseException as error:  # handed to the reading thread, which raises it
                _put(out, error, stop)

        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(keys)))) as pool:
            # Two blocks a queue: memory stays about workers x 3 x BLOCK_BYTES whatever the objects' size.
            queues: list[queue.Queue[bytes | BaseException | None]] = [queue.Queue(2) for _ in keys]
            for key, out in zip(keys, queues, strict=True):
                pool.submit(fetch, key, out)
            try:
                for out in queues:
                    rest = b""
                    while (item := out.get()) is not None:
                        if isinstance(item, BaseException):
                            raise item
                        cut = item.rfind(b"\n")
                        if cut < 0:
                            rest += item
                            continue
                        # One copy of the block, not two (a slice, then a concatenation).
                        yield b"".join((rest, memoryview(item)[: cut + 1]))
                        rest = item[cut + 1 :]
                    if rest:
                        yield rest
            finally:
                stop.set()


def _put(
    out: queue.Queue[bytes | BaseException | None], item: bytes | BaseException | None, stop: threading.Event
) -> bool:
    """Put unless the reader stopped (it raised or returned early); False then."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
        except queue.Full:
            continue
        return True
    return False


def _add_text(
    columns: _Columns, counts: _Counts, text: str, model: str, version: int, since: datetime, until: datetime
) -> None:
    records: list[dict[str, Any]] = []
    for record in iter_records(text):
        if record is None:
            counts.malformed += 1
            continue
        if record.get("model", model) != model or record.get("version") != version:
            if isinstance(record.get("version"), int):
                counts.other_versions += 1
            else:
                counts.malformed += 1
            continue
        moment = parse_timestamp(record.get("timestamp"))
        if moment is None:
            counts.malformed += 1
            continue
        if not since <= moment <= until:
            counts.outside_window += 1
            continue
        if (
            not isinstance(record.get("features"), dict)
            or not isinstance(record.get("request_id"), str)
            or not isinstance(record.get("row", 0), int)
        ):
            counts.malformed += 1
            continue
        records.append(record)
    columns.add_records(records)
