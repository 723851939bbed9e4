"""The capture stream in the embedded stack: its configuration, and the dynamic partitioning moto lacks.

In AWS the capture stream partitions records by model and day: Firehose splits each record into its
JSON lines (record deaggregation), reads the ``model`` field of each with a JQ query (metadata
extraction), writes under ``capture/!{partitionKeyFromQuery:model}/!{timestamp:yyyy-MM-dd}/`` and
ends each line with a newline. moto delivers every batch to one object under ``<prefix>YYYY/MM/DD/HH/``
and ignores all of that, so ``install_firehose_partitioning()`` patches moto's S3 delivery to honour
the same configuration: the deaggregation types (JSON, DELIMITED), ``{key: .field}`` JQ queries, the
``partitionKeyFromQuery``, ``timestamp`` and ``firehose`` prefix namespaces, the error output prefix
for records that cannot be partitioned, and ``AppendDelimiterToRecord``. Streams without dynamic
partitioning keep moto's behaviour. Objects land synchronously (no buffering), one per partition
per ``PutRecordBatch``.

``delivery_stream_config`` is the one ``CreateDeliveryStream`` request for a stream of the stack
description; the CDK stack sets the same fields (``PARTITIONED_PREFIX``, ``processors()``).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mlops.definition.description import StreamSpec

PARTITION_KEY = "model"
METADATA_QUERY = "{model: .model}"
PARTITIONED_SUFFIX = "!{partitionKeyFromQuery:model}/!{timestamp:yyyy-MM-dd}/"
ERROR_SUFFIX = "!{firehose:error-output-type}/!{timestamp:yyyy-MM-dd}/"
MIN_PARTITIONED_BUFFER_MB = 64  # Firehose's floor for streams with dynamic partitioning

_installed: dict[str, Any] = {}


def processors() -> list[dict[str, Any]]:
    """Deaggregate each record into its JSON lines, extract ``model``, end each line with a newline."""
    return [
        {
            "Type": "RecordDeAggregation",
            "Parameters": [{"ParameterName": "SubRecordType", "ParameterValue": "JSON"}],
        },
        {
            "Type": "MetadataExtraction",
            "Parameters": [
                {"ParameterName": "MetadataExtractionQuery", "ParameterValue": METADATA_QUERY},
                {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"},
            ],
        },
        {"Type": "AppendDelimiterToRecord", "Parameters": []},
    ]


def delivery_stream_config(
    stream: StreamSpec, physical_name: Callable[[str], str], role_arn: str
) -> dict[str, Any]:
    """Keyword arguments of ``firehose.create_delivery_stream`` for ``stream``."""
    return {
        "DeliveryStreamName": physical_name(stream.name),
        "DeliveryStreamType": "DirectPut",
        "ExtendedS3DestinationConfiguration": {
            "RoleARN": role_arn,
            "BucketARN": f"arn:aws:s3:::{physical_name(stream.bucket)}",
            "Prefix": stream.prefix + PARTITIONED_SUFFIX,
            "ErrorOutputPrefix": stream.error_prefix + ERROR_SUFFIX,
            "BufferingHints": {
                "IntervalInSeconds": stream.buffer_seconds,
                "SizeInMBs": max(stream.buffer_mb, MIN_PARTITIONED_BUFFER_MB),
            },
            "CompressionFormat": "UNCOMPRESSED",
            "DynamicPartitioningConfiguration": {"Enabled": True, "RetryOptions": {"DurationInSeconds": 300}},
            "ProcessingConfiguration": {"Enabled": True, "Processors": processors()},
        },
    }


# ---- the emulation ------------------------------------------------------------------------------

_QUERY = re.compile(r"^\s*\{(?P<body>.*)\}\s*$", re.S)
_QUERY_ITEM = re.compile(r"^\s*(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*:\s*\.(?P<path>[A-Za-z_][A-Za-z0-9_.]*)\s*$")
_EXPRESSION = re.compile(r"!\{(?P<namespace>[A-Za-z]+):(?P<argument>[^}]*)\}")
# Java DateTimeFormatter letters Firehose accepts, as strftime directives.
_JAVA_TIME = [("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")]


class PartitioningError(ValueError):
    """A record that cannot be partitioned (not JSON, or without the partition key)."""


def parse_query(query: str) -> dict[str, list[str]]:
    """``{model: .model, day: .meta.day}`` -> ``{"model": ["model"], "day": ["meta", "day"]}``."""
    match = _QUERY.match(query)
    if not match:
        raise ValueError(
            f"The embedded Firehose supports JQ queries of the form {{key: .field}}, not {query!r}."
        )
    keys: dict[str, list[str]] = {}
    for item in match.group("body").split(","):
        part = _QUERY_ITEM.match(item)
        if not part:
            raise ValueError(
                f"The embedded Firehose supports JQ queries of the form {{key: .field}}, not {query!r}."
            )
        keys[part.group("key")] = part.group("path").split(".")
    return keys


def extract_keys(query: dict[str, list[str]], document: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, path in query.items():
        value = document
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        if value is None or isinstance(value, dict | list):
            raise PartitioningError(f"The record has no usable value at .{'.'.join(path)}.")
        out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def render_prefix(prefix: str, keys: dict[str, str], now: datetime, error_type: str = "") -> str:
    def substitute(match: re.Match[str]) -> str:
        namespace, argument = match.group("namespace"), match.group("argument")
        if namespace == "partitionKeyFromQuery":
            if argument not in keys:
                raise PartitioningError(f"No partition key {argument!r} was extracted.")
            return keys[argument]
        if namespace == "timestamp":
            pattern = argument
            for java, directive in _JAVA_TIME:
                pattern = pattern.replace(java, directive)
            return now.strftime(pattern)
        if namespace == "firehose" and argument == "random-string":
            return uuid.uuid4().hex[:11]
        if namespace == "firehose" and argument == "error-output-type":
            return error_type
        raise ValueError(f"The embedded Firehose does not support the prefix expression {match.group(0)!r}.")

    return _EXPRESSION.sub(substitute, prefix)


def split_records(data: bytes, sub_record_type: str | None, delimiter: bytes = b"") -> list[bytes]:
    """Firehose's record deaggregation: consecutive JSON objects, or records between delimiters."""
    if sub_record_type is None:
        return [data]
    if sub_record_type == "DELIMITED":
        return [part for part in data.split(delimiter) if part]
    text = data.decode("utf-8")
    decoder = json.JSONDecoder()
    out: list[bytes] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return out
        _, end = decoder.raw_decode(text, position)
        out.append(text[position:end].encode("utf-8"))
        position = end


def _processor(config: dict[str, Any], kind: str) -> dict[str, str] | None:
    processing = config.get("ProcessingConfiguration") or {}
    if not processing.get("Enabled", True):
        return None
    for processor in processing.get("Processors", []):
        if processor.get("Type") == kind:
            return {p["ParameterName"]: p["ParameterValue"] for p in processor.get("Parameters", [])}
    return None


def deliver(
    destination: dict[str, Any], stream: str, version: str, records: list[bytes], now: datetime
) -> dict[str, bytes]:
    """``{object key: body}`` for one batch, as a dynamically partitioned stream writes it."""
    deaggregation = _processor(destination, "RecordDeAggregation")
    extraction = _processor(destination, "MetadataExtraction")
    append_newline = _processor(destination, "AppendDelimiterToRecord") is not None
    query = parse_query(extraction.get("MetadataExtractionQuery", "")) if extraction else {}
    sub_type = deaggregation.get("SubRecordType") if deaggregation else None
    delimiter = base64.b64decode(deaggregation.get("Delimiter", "")) if deaggregation else b""
    prefix = destination.get("Prefix", "")
    error_prefix = destination.get("ErrorOutputPrefix", "")
    partitions: dict[str, list[bytes]] = {}
    failed: list[bytes] = []
    for data in records:
        try:
            parts = split_records(data, sub_type, delimiter)
        except ValueError:
            failed.append(data)
            continue
        for part in parts:
            try:
                keys = extract_keys(query, json.loads(part))
                target = render_prefix(prefix, keys, now)
            except (PartitioningError, ValueError):
                failed.append(part)
                continue
            partitions.setdefault(target, []).append(part + b"\n" if append_newline else part)
    name = f"{stream}-{version}-{now.strftime('%Y-%m-%d-%H-%M-%S')}-"
    objects = {f"{target}{name}{uuid.uuid4()}": b"".join(parts) for target, parts in partitions.items()}
    if failed:
        target = render_prefix(error_prefix, {}, now, error_type="processing-failed")
        objects[f"{target}{name}{uuid.uuid4()}"] = b"".join(
            part + b"\n" if append_newline and not part.endswith(b"\n") else part for part in failed
        )
    return objects


def _partitioned(destination: dict[str, Any]) -> bool:
    return bool((destination.get("DynamicPartitioningConfiguration") or {}).get("Enabled"))


def install_firehose_partitioning() -> None:
    """Make moto's Firehose deliver dynamically partitioned streams as AWS does; idempotent."""
    from moto.firehose.models import FirehoseBackend
    from moto.moto_api._internal import mock_random
    from moto.s3.models import s3_backends

    if _installed:
        return
    original = FirehoseBackend.put_s3_records

    def put_s3_records(
        self: Any,
        delivery_stream_name: str,
        version_id: str,
        s3_destination: dict[str, Any],
        records: list[Any],
    ) -> list[dict[str, str]]:
        if not _partitioned(s3_destination):
            result: list[dict[str, str]] = original(
                self, delivery_stream_name, version_id, s3_destination, records
            )
            return result
        payloads = [
            r["Data"] if isinstance(r["Data"], bytes) else base64.b64decode(r["Data"]) for r in records
        ]
        bucket = s3_destination["BucketARN"].split(":")[-1]
        objects = deliver(s3_destination, delivery_stream_name, version_id, payloads, datetime.now(UTC))
        backend = s3_backends[self.account_id][self.partition]
        for key, body in objects.items():
            backend.put_object(bucket, key, body)
        return [{"RecordId": str(mock_random.uuid4())} for _ in records]

    _installed["put_s3_records"] = original
    FirehoseBackend.put_s3_records = put_s3_records  # type: ignore[method-assign]


def uninstall_firehose_partitioning() -> None:
    from moto.firehose.models import FirehoseBackend

    if _installed:
        FirehoseBackend.put_s3_records = _installed.pop("put_s3_records")  # type: ignore[method-assign]
