"""Ground-truth labels: the formats, the reasons a line is skipped, and the bounded read of
``ground-truth/<model>/`` and the deprecated ``feedback/<model>/`` (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from moto import mock_aws

from mlops import aws
from mlops.labels import (
    BAD_CSV_HEADER,
    BAD_LABEL,
    BAD_ROW,
    LABEL_CLOCK_MARGIN,
    NO_LABEL,
    NO_REQUEST_ID,
    NOT_AN_OBJECT,
    LabelReader,
    Labels,
    read_label_object,
)

BUCKET = "capture"


def test_csv_and_json_lines_by_object_name() -> None:
    labels = Labels()
    read_label_object("ground-truth/m/a.CSV", b"request_id,row,label\nr0,0,1\nr0,1,0\nr2,,yes\n", labels)
    read_label_object(
        "ground-truth/m/b.jsonl",
        b'{"request_id": "r3", "row": 1, "label": true}\n{"request_id": "r4", "label": 2.5}'
        b'{"request_id": "r5", "row": "2", "label": "no"}\n',  # two objects run together
        labels,
    )
    assert labels.by_row == {
        ("r0", 0): "1",
        ("r0", 1): "0",
        ("r2", 0): "yes",
        ("r3", 1): True,
        ("r4", 0): 2.5,
        ("r5", 2): "no",
    }
    assert labels.objects == 2 and labels.malformed == 0


def test_a_spreadsheet_csv_with_a_byte_order_mark_and_padding_reads() -> None:
    labels = Labels()
    read_label_object("x.csv", "\ufeffrequest_id , label ,row\n r1 , a , 3 \n".encode(), labels)
    assert labels.by_row == {("r1", 3): "a"} and not labels.skipped


def test_unusable_lines_are_counted_per_reason_and_the_rest_is_kept() -> None:
    labels = Labels()
    read_label_object(
        "bad.jsonl",
        b"{not json\n"
        b"[1, 2]\n"
        b'{"row": 0, "label": 1}\n'
        b'{"request_id": "", "label": 1}\n'
        b'{"request_id": "r1", "row": 0}\n'
        b'{"request_id": "r1", "row": 0, "label": ""}\n'
        b'{"request_id": "r1", "row": -1, "label": 1}\n'
        b'{"request_id": "r1", "row": 1.5, "label": 1}\n'
        b'{"request_id": "r1", "row": true, "label": 1}\n'
        b'{"request_id": "r1", "row": 0, "label": [1]}\n'
        b'{"request_id": "good", "row": 2.0, "label": 0}\n',
        labels,
    )
    read_label_object("bad.csv", b"request_id,row,label\n,0,1\nr1,x,1\nr2,0,\n", labels)
    read_label_object("headless.csv", b"id,target\na,1\n", labels)
    assert labels.by_row == {("good", 2): 0}
    assert labels.skipped == {
        NOT_AN_OBJECT: 2,
        NO_REQUEST_ID: 3,
        NO_LABEL: 3,
        BAD_ROW: 4,
        BAD_LABEL: 1,
        BAD_CSV_HEADER: 1,
    }
    assert labels.malformed == 14 and labels.objects == 3


def test_only_wanted_labels_are_kept() -> None:
    labels = Labels()
    body = b"".join(json.dumps({"request_id": f"r{i}", "label": i}).encode() + b"\n" for i in range(100))
    read_label_object("many.jsonl", body, labels, wanted={("r7", 0), ("absent", 0)})
    assert labels.by_row == {("r7", 0): 7}


@pytest.fixture
def reader() -> Iterator[LabelReader]:
    with mock_aws():
        aws.reset_clients()
        aws.s3().create_bucket(Bucket=BUCKET)
        yield LabelReader(BUCKET)
    aws.reset_clients()


def put(key: str, body: str) -> None:
    aws.s3().put_object(Bucket=BUCKET, Key=key, Body=body.encode())


def test_the_reader_reads_the_new_prefix_and_the_deprecated_one(reader: LabelReader) -> None:
    since = datetime.now(UTC)
    put("ground-truth/churn/2026-01.csv", "request_id,label\nr1,yes\nr2,no\n")
    put(
        "feedback/churn/old.jsonl",
        '{"request_id": "r2", "row": 0, "label": "yes"}\n{"request_id": "r3", "label": "no"}\n',
    )
    put("ground-truth/other/x.csv", "request_id,label\nr1,no\n")  # another model's labels
    labels = reader.read("churn", since)
    # The new prefix wins where both name a row; the old one still counts.
    assert labels.by_row == {("r1", 0): "yes", ("r2", 0): "no", ("r3", 0): "no"}
    assert labels.objects == 2 and labels.deprecated_objects == 1


def test_the_reader_skips_uploads_older_than_its_window(reader: LabelReader) -> None:
    put("ground-truth/churn/a.jsonl", '{"request_id": "r1", "label": 1}\n')
    now = datetime.now(UTC)
    assert reader.read("churn", now).by_row == {("r1", 0): 1}  # within the clock margin
    later = reader.read("churn", now + LABEL_CLOCK_MARGIN + timedelta(minutes=1))
    assert later.by_row == {} and later.objects == 0  # not fetched at all
