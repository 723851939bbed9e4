"""Reading captured traffic from the capture bucket into feature columns.

The inference function captures one JSON object per predicted row (``mlops.serving.capture``):

    {"request_id", "model", "version", "timestamp" (ISO-8601 UTC), "row",
     "features": {column: value}, "prediction": value, "probabilities": [...] (classifiers)}

Firehose writes them under ``capture/<model>/<YYYY-MM-DD>/<object>``, newline-separated, possibly
several records run together in one object. ``CaptureReader.read`` lists the day prefixes the window
touches, reads every object (a few in parallel), keeps the records of the model version evaluated
whose timestamp lies in the window, and builds one numpy column per feature of the model's signature:
numeric as float64 with NaN for null, categorical as str with ``""`` for null (the conventions of
``mlops.signature``). Malformed lines and records are skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mlops import aws
from mlops.drift.baseline import category_key, class_key
from mlops.signature import Signature

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CAPTURE_PREFIX = "capture/"
READ_WORKERS = 8

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\r\n"


@dataclass
class CapturedTraffic:
    """The captured rows of one model version in one window, as columns."""

    features: dict[str, npt.NDArray[Any]]
    predictions: npt.NDArray[Any]
    request_ids: list[str]
    row_numbers: list[int]
    objects: int = 0
    malformed: int = 0
    other_versions: int = 0
    outside_window: int = 0

    @property
    def rows(self) -> int:
        return len(self.request_ids)


@dataclass
class _Columns:
    signature: Signature
    values: dict[str, list[Any]] = field(default_factory=dict)
    predictions: list[Any] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)

    def add(self, record: dict[str, Any]) -> bool:
        """Append one record's row; False (nothing appended) when its fields have the wrong shape."""
        features = record.get("features")
        request_id = record.get("request_id")
        row = record.get("row", 0)
        if not isinstance(features, dict) or not isinstance(request_id, str) or not isinstance(row, int):
            return False
        for spec in self.signature.features:
            value = features.get(spec.name)
            self.values.setdefault(spec.name, []).append(
                _number(value) if spec.kind == "numeric" else category_key(value)
            )
        self.predictions.append(record.get("prediction"))
        self.request_ids.append(request_id)
        self.row_numbers.append(row)
        return True

    def arrays(self) -> tuple[dict[str, npt.NDArray[Any]], npt.NDArray[Any]]:
        columns: dict[str, npt.NDArray[Any]] = {}
        for spec in self.signature.features:
            values = self.values.get(spec.name, [])
            if spec.kind == "numeric":
                columns[spec.name] = np.array(values, dtype=np.float64)
            else:
                # Keys are bounded (category_key), so the array's fixed width is too: rows x features.
                columns[spec.name] = np.array(values, dtype=str) if values else np.array([], dtype=str)
        if self.signature.task == "classification":
            predictions = np.array([class_key(p) for p in self.predictions], dtype=str)
        else:
            predictions = np.array([_number(p) for p in self.predictions], dtype=np.float64)
        return columns, predictions


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
        malformed = other_versions = outside = 0
        s3 = self.s3  # resolved once: the worker threads share one client

        def text(key: str) -> str:
            return s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode("utf-8", errors="replace")

        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(keys) or 1))) as pool:
            for text_of_object in pool.map(text, keys):
                for record in iter_records(text_of_object):
                    if record is None:
                        malformed += 1
                        continue
                    if record.get("model", model) != model or record.get("version") != version:
                        if isinstance(record.get("version"), int):
                            other_versions += 1
                        else:
                            malformed += 1
                        continue
                    moment = parse_timestamp(record.get("timestamp"))
                    if moment is None:
                        malformed += 1
                        continue
                    if not since <= moment <= until:
                        outside += 1
                        continue
                    if not columns.add(record):
                        malformed += 1
        features, predictions = columns.arrays()
        return CapturedTraffic(
            features=features,
            predictions=predictions,
            request_ids=columns.request_ids,
            row_numbers=columns.row_numbers,
            objects=len(keys),
            malformed=malformed,
            other_versions=other_versions,
            outside_window=outside,
        )
