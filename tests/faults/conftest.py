"""The fault-injection suite: each module is one failure class, each test one promise (docs/faults.md).

Every test injects a fault into the embedded stack (moto in-process, the real handlers, the real ASL),
then checks three things: nothing is lost (the upload, run, model or traffic is still recorded), the
user gets one sentence naming the problem, and the loop still works afterwards.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from mlops import aws
from mlops.config import DatasetConfig
from mlops.definition import description as d
from mlops.entities import RawObject, Run
from mlops.errors import NotFound
from mlops.local.embedded import EmbeddedStack
from mlops.local.persistence import StateStore
from mlops.local.resources import physical_name
from mlops.registry import Registry

# The integration suite's fixtures: one executing embedded stack per module, its registry and bucket.
from tests.integration.conftest import data_bucket, embedded, embedded_stack, registry, wait_for, wait_for_run
from tests.integration.test_pipeline import iris_csv

__all__ = ["data_bucket", "embedded", "registry"]

MAX_SENTENCE = 2_000


def state_store(root: Path) -> StateStore:
    return StateStore(
        root,
        buckets=[physical_name(b.name) for b in d.BUCKETS],
        tables=[physical_name(t.name) for t in d.TABLES],
    )


@contextmanager
def frozen_stack(state: StateStore | None = None, wire: bool = False) -> Iterator[EmbeddedStack]:
    """An embedded stack whose executions are recorded but not run (each test drives the functions
    itself), restored from ``state`` when given; leaving the block drops everything in memory, as a
    ``kill -9`` of ``mlops local up`` does. ``wire`` adds the S3 notification and the event rules."""
    with embedded_stack(state, execute=False, wire=wire) as stack:
        yield stack


def csv_of(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def upload(registry: Registry, bucket: str, dataset: str, key: str, body: bytes) -> RawObject:
    """Put an object under raw/, wait until ingest recorded what it made of it."""
    etag = aws.s3().put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')

    def settled() -> RawObject | None:
        raw = registry.datasets.get_raw_object(dataset, bucket, key, etag)
        if raw is None or not (raw.run_id or raw.status != "ACCEPTED"):
            return None
        try:  # ingest names the run on the raw object a moment before it creates the run record
            return raw if raw.run_id is None or registry.runs.get_run(raw.run_id) else None
        except NotFound:
            return None

    result: RawObject = wait_for(settled)
    return result


def assert_one_sentence(message: str | None) -> None:
    """What the user reads: present, bounded, one sentence, no raw AWS error text."""
    assert message, "no reason given"
    assert len(message) <= MAX_SENTENCE, len(message)
    assert "Item size" not in message and "ValidationException" not in message, message
    assert message.rstrip().endswith((".", "…")), message


def good_upload_trains(
    registry: Registry, bucket: str, dataset: str, name: str = "good.csv", body: bytes | None = None
) -> Run:
    """The loop still works: a good upload of the dataset (iris unless ``body``) trains."""
    registry.datasets.put_config(dataset, DatasetConfig(target="species"))
    raw = upload(registry, bucket, dataset, f"raw/{dataset}/{name}", body or iris_csv())
    assert raw.run_id, raw.reason
    run = wait_for_run(registry, raw.run_id)
    assert run.status == "SUCCEEDED", (run.failed_stage, run.error)
    return run
