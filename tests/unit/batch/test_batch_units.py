"""Batch scoring's parts on their own: splitting a file into byte ranges, the S3 trigger, the events."""

from __future__ import annotations

import io
import os
import random
from collections.abc import Iterator

import pytest
from moto import mock_aws

from mlops import aws
from mlops.batch.entities import BatchRequest, InputObject
from mlops.batch.events import BatchStepEvent
from mlops.batch.objects import BatchObjects
from mlops.batch.service import BatchConfig, BatchDeps, split
from mlops.batch.submit import request_from_upload
from mlops.registry import Registry
from mlops.storage import Storage
from tests.events import load_event

BUCKET = "batch-units"


@pytest.fixture(scope="module")
def s3() -> Iterator[None]:
    # One moto for the module (starting one costs more than a test): each test overwrites the one key.
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        aws.reset_clients()
        aws.s3().create_bucket(Bucket=BUCKET)
        yield
    aws.reset_clients()


def _lines(seed: int) -> bytes:
    rng = random.Random(seed)
    rows = [",".join(["id", "text"])]
    for i in range(rng.randint(1, 300)):
        rows.append(f"{i},{'x' * rng.choice([0, 1, 5, 40, 300, 2000])}")
    body = "\n".join(rows)
    return (body + "\n" if rng.random() < 0.7 else body).encode()


@pytest.mark.parametrize("seed", range(12))
def test_byte_ranges_hand_every_line_to_exactly_one_item(s3: None, seed: int) -> None:
    body = _lines(seed)
    aws.s3().put_object(Bucket=BUCKET, Key="batch/in.csv", Body=body)
    source = InputObject(
        bucket=BUCKET, key="batch/in.csv", size=len(body), etag="e", format="csv", sha256="0"
    )
    objects = BatchObjects()
    deps = BatchDeps(Registry("unused"), Storage(), objects, "unused")
    # At most ~50 parts (each a ranged GET; a 128 KB body in 64-byte parts would be 2,000), still
    # smaller than the 300- and 2,000-byte lines, so lines straddle parts.
    part_bytes = max(random.Random(seed).choice([64, 1000, 4096, 10**6]), len(body) // 50)
    items = split(deps, [source], BatchConfig(part_bytes=part_bytes))
    header, _, rest = body.partition(b"\n")
    staged: list[bytes] = []
    for item in items:
        assert item.header == header.decode()
        out = io.BytesIO()
        objects.stage_lines(BUCKET, source.key, item.start, item.end or source.size, source.size, out)
        staged.append(out.getvalue())
    assert b"".join(staged) == rest  # each line once, in order, none split
    filled = [part for part in staged if part]
    assert all(part.endswith(b"\n") for part in filled[:-1])


def test_an_object_under_batch_model_input_starts_one_job_per_version_and_nothing_else_does() -> None:
    first = request_from_upload("data", "batch/churn/input/nightly.csv", "etag-1")
    again = request_from_upload("data", "batch/churn/input/nightly.csv", "etag-1")
    changed = request_from_upload("data", "batch/churn/input/nightly.csv", "etag-2")
    assert first is not None and again is not None and changed is not None
    assert first.job_id == again.job_id != changed.job_id  # at-least-once events: one execution name
    assert first.output.key == f"batch/churn/output/{first.job_id}/"
    assert request_from_upload("data", f"batch/churn/output/{first.job_id}/part-00000.csv", "e") is None
    assert request_from_upload("data", "batch/churn/input/", "e") is None
    assert request_from_upload("data", "batch/churn/uploads/x/a.csv", "e") is None


@pytest.mark.parametrize("name", ["plan", "score", "finalize", "fail"])
def test_sample_step_events_parse(name: str) -> None:
    event = BatchStepEvent.model_validate(load_event(f"batch/{name}"))
    assert event.action == name
    if event.request is not None:
        BatchRequest.model_validate(event.request)
