"""The embedded stack's Firehose dynamic partitioning: the pieces that turn a batch into S3 objects."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mlops.definition import description as d
from mlops.local.firehose import (
    deliver,
    delivery_stream_config,
    extract_keys,
    parse_query,
    render_prefix,
    split_records,
)

NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)


def destination() -> dict[str, Any]:
    config = delivery_stream_config(d.CAPTURE_STREAM, lambda n: f"mlops-{n}", "arn:aws:iam::1:role/r")
    assert config["DeliveryStreamName"] == "mlops-capture"
    extended: dict[str, Any] = config["ExtendedS3DestinationConfiguration"]
    return extended


def test_the_stream_partitions_capture_by_model_and_day() -> None:
    config = destination()
    assert config["BucketARN"] == "arn:aws:s3:::mlops-capture"
    assert config["Prefix"] == "capture/!{partitionKeyFromQuery:model}/!{timestamp:yyyy-MM-dd}/"
    assert config["ErrorOutputPrefix"].startswith("capture-errors/!{firehose:error-output-type}/")
    assert config["DynamicPartitioningConfiguration"]["Enabled"] is True
    assert config["BufferingHints"]["SizeInMBs"] >= 64
    types = [p["Type"] for p in config["ProcessingConfiguration"]["Processors"]]
    assert types == ["RecordDeAggregation", "MetadataExtraction", "AppendDelimiterToRecord"]


def test_queries_prefixes_and_deaggregation() -> None:
    assert parse_query("{model: .model, day: .meta.day}") == {"model": ["model"], "day": ["meta", "day"]}
    with pytest.raises(ValueError, match="JQ queries of the form"):
        parse_query(".model | ascii_downcase")
    assert extract_keys({"model": ["model"]}, {"model": "churn"}) == {"model": "churn"}
    with pytest.raises(ValueError, match=r"no usable value at \.model"):
        extract_keys({"model": ["model"]}, {"version": 1})
    assert render_prefix(
        "capture/!{partitionKeyFromQuery:model}/!{timestamp:yyyy-MM-dd/HH}/", {"model": "m"}, NOW
    ) == ("capture/m/2025-03-14/09/")
    assert split_records(b'{"a":1}\n{"a":2}{"a": [3]}\n', "JSON") == [b'{"a":1}', b'{"a":2}', b'{"a": [3]}']
    assert split_records(b"a##b##", "DELIMITED", b"##") == [b"a", b"b"]
    assert split_records(b"whole", None) == [b"whole"]


def test_a_batch_lands_one_object_per_model_with_newline_terminated_lines() -> None:
    lines = [
        json.dumps({"model": model, "row": i}).encode() for i, model in enumerate(["churn", "iris", "churn"])
    ]
    records = [lines[0] + b"\n" + lines[1] + b"\n", lines[2] + b"\n", b'{"row": 9}\n', b"not json\n"]
    objects = deliver(destination(), "mlops-capture", "1", records, NOW)
    by_prefix = {key.rsplit("/", 1)[0]: body for key, body in objects.items()}
    assert by_prefix["capture/churn/2025-03-14"] == lines[0] + b"\n" + lines[2] + b"\n"
    assert by_prefix["capture/iris/2025-03-14"] == lines[1] + b"\n"
    assert by_prefix["capture-errors/processing-failed/2025-03-14"] == b'{"row": 9}\n' + b"not json\n"
    assert all(key.split("/")[-1].startswith("mlops-capture-1-2025-03-14-09-26-53-") for key in objects)


def test_without_deaggregation_a_record_of_several_lines_cannot_be_partitioned() -> None:
    config = destination()
    config["ProcessingConfiguration"]["Processors"] = [
        p for p in config["ProcessingConfiguration"]["Processors"] if p["Type"] != "RecordDeAggregation"
    ]
    objects = deliver(config, "s", "1", [b'{"model": "a"}\n{"model": "b"}\n'], NOW)
    assert [key.split("/")[0] for key in objects] == ["capture-errors"]
    delimited = destination()
    delimited["ProcessingConfiguration"]["Processors"][0]["Parameters"] = [
        {"ParameterName": "SubRecordType", "ParameterValue": "DELIMITED"},
        {"ParameterName": "Delimiter", "ParameterValue": base64.b64encode(b"\n").decode()},
    ]
    assert [
        key.split("/")[1] for key in deliver(delimited, "s", "1", [b'{"model": "a"}\n{"model": "b"}\n'], NOW)
    ] == [
        "a",
        "b",
    ]
