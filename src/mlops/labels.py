"""Ground-truth labels: one place to upload them, one reader for every feature that scores live predictions.

Labels are known later than predictions (a churn a month on), so users upload them to the capture
bucket, beside the traffic they label, under ``ground-truth/<model>/`` (any object name below it):

- an object whose name ends in ``.csv``: CSV with a header naming ``request_id``, ``label`` and
  optionally ``row``;
- any other object: JSON Lines, one ``{"request_id": "...", "row": 0, "label": ...}`` per line.

``request_id`` is the id a prediction's response carried (``x-amzn-RequestId``, the id every capture
line records) and ``row`` the row's index in that request (default 0). Both the rollout's
ground-truth guardrail (``mlops.shadow``) and drift's live quality (``mlops.drift.quality``) read them
through ``LabelReader``, so one upload serves both.

``feedback/<model>/``, where rollouts used to read labels, is still read as a deprecated alias (same
formats); a read that finds objects there logs a warning naming the new prefix.

A read is bounded: it lists the prefix but fetches only objects written since ``since`` (less a clock
margin: a label of a request cannot be older than the request), and with ``wanted`` it keeps only the
labels of those (request_id, row) pairs. Lines it cannot use are skipped and counted per reason, never
fatal.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops import aws
from mlops.drift.capture_reader import iter_records
from mlops.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LABELS_PREFIX = "ground-truth/"
DEPRECATED_LABELS_PREFIX = "feedback/"
# S3 keeps LastModified to the second, and the reading function's clock is not S3's.
LABEL_CLOCK_MARGIN = timedelta(minutes=5)

# Why a line (or, for a CSV without the columns, a whole object) was skipped.
NOT_AN_OBJECT = "not a JSON object"
NO_REQUEST_ID = "no request_id"
NO_LABEL = "no label"
BAD_ROW = "row is not a whole number >= 0"
BAD_LABEL = "label is not a single value"
BAD_CSV_HEADER = "CSV header does not name request_id and label"

LabelKey = tuple[str, int]


@dataclass
class Labels:
    """The labels read, by (request_id, row), and what the read met on the way."""

    by_row: dict[LabelKey, Any] = field(default_factory=dict)
    objects: int = 0
    deprecated_objects: int = 0  # of ``objects``, read under ``feedback/``
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> lines (objects, for a CSV header)

    @property
    def malformed(self) -> int:
        return sum(self.skipped.values())


def labels_prefix(model: str) -> str:
    return f"{LABELS_PREFIX}{model}/"


def _row_number(value: object) -> int | None:
    """The row index a label names (absent or empty: 0), or None when it is not a whole number >= 0."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        number = int(value) if value.is_integer() else -1
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if number >= 0 else None


def add_label(
    labels: Labels,
    request_id: object,
    row: object,
    label: object,
    wanted: Container[LabelKey] | None = None,
) -> None:
    """Keep one label (when ``wanted`` is given, only if it is wanted), or count why it is unusable."""
    if not isinstance(request_id, str) or not request_id.strip():
        labels.skipped[NO_REQUEST_ID] += 1
        return
    if label is None or label == "":
        labels.skipped[NO_LABEL] += 1
        return
    if not isinstance(label, str | int | float):  # bool is an int
        labels.skipped[BAD_LABEL] += 1
        return
    number = _row_number(row)
    if number is None:
        labels.skipped[BAD_ROW] += 1
        return
    key = (request_id.strip(), number)
    if wanted is None or key in wanted:
        labels.by_row[key] = label


def read_csv_labels(text: str, labels: Labels, wanted: Container[LabelKey] | None = None) -> None:
    reader = csv.DictReader(io.StringIO(text))
    if not {"request_id", "label"} <= {name.strip() for name in reader.fieldnames or []}:
        labels.skipped[BAD_CSV_HEADER] += 1
        return
    for record in reader:
        cleaned = {
            (k or "").strip(): (v or "").strip() for k, v in record.items() if isinstance(v, str | None)
        }
        add_label(labels, cleaned.get("request_id"), cleaned.get("row"), cleaned.get("label"), wanted)


def read_json_labels(text: str, labels: Labels, wanted: Container[LabelKey] | None = None) -> None:
    for record in iter_records(text):
        if record is None:
            labels.skipped[NOT_AN_OBJECT] += 1
            continue
        add_label(labels, record.get("request_id"), record.get("row"), record.get("label"), wanted)


def read_label_object(
    key: str, body: bytes, labels: Labels, wanted: Container[LabelKey] | None = None
) -> None:
    """One uploaded object's labels, in the format its name says."""
    text = body.decode("utf-8-sig", errors="replace")  # a spreadsheet's CSV export starts with a BOM
    labels.objects += 1
    if key.lower().endswith(".csv"):
        read_csv_labels(text, labels, wanted)
    else:
        read_json_labels(text, labels, wanted)


class LabelReader:
    """Reads a model's labels from the capture bucket (``ground-truth/<model>/`` and the deprecated
    ``feedback/<model>/``)."""

    def __init__(self, bucket: str, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def s3(self) -> S3Client:
        return self._client or aws.s3()

    def keys_since(self, prefix: str, since: datetime) -> list[str]:
        """The objects under ``prefix`` written at or after ``since`` less the clock margin, in key order."""
        keys: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(
                item["Key"]
                for item in page.get("Contents", [])
                if item["LastModified"] >= since - LABEL_CLOCK_MARGIN
            )
        return keys

    def read(self, model: str, since: datetime, wanted: Container[LabelKey] | None = None) -> Labels:
        """The labels of ``model`` uploaded since ``since``; with ``wanted``, only those pairs' labels.
        The deprecated prefix is read first, so a label uploaded to both places reads as the new one."""
        labels = Labels()
        deprecated = self.keys_since(f"{DEPRECATED_LABELS_PREFIX}{model}/", since)
        self._read_objects(deprecated, labels, wanted)
        labels.deprecated_objects = len(deprecated)
        self._read_objects(self.keys_since(labels_prefix(model), since), labels, wanted)
        if deprecated:
            logger.warning(
                "Labels read from a deprecated prefix",
                extra={
                    "model": model,
                    "objects": len(deprecated),
                    "deprecated_prefix": f"{DEPRECATED_LABELS_PREFIX}{model}/",
                    "upload_to": labels_prefix(model),
                },
            )
        if labels.skipped:
            logger.warning(
                "Label lines skipped",
                extra={"model": model, "skipped": dict(labels.skipped), "objects": labels.objects},
            )
        return labels

    def _read_objects(self, keys: Iterable[str], labels: Labels, wanted: Container[LabelKey] | None) -> None:
        for key in keys:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            read_label_object(key, body, labels, wanted)
