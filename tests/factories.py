"""Records and resources that many tests need, built in one place: a new required field or a new index
changes one function, not every test that made its own copy."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto import mock_aws

from mlops import aws
from mlops.definition import description as d
from mlops.entities import ModelVersion
from mlops.local.resources import create_table
from mlops.registry import Registry

TABLE = "mlops-metadata"
ZERO_SHA = "0" * 64


def model_version(name: str = "m", version: int = 1, **fields: Any) -> ModelVersion:
    """A model version record: the required fields filled with plain values, ``fields`` override any."""
    values: dict[str, Any] = {
        "task": "classification",
        "dataset_version": ZERO_SHA,
        "run_id": f"{name}-r{version}",
        **fields,
    }
    return ModelVersion(name=name, version=version, **values)


def create_metadata_table(name: str = TABLE) -> None:
    """The stack's metadata table (keys, indexes, TTL from the description) in the running moto."""
    create_table(d.METADATA_TABLE, name)


@contextmanager
def moto_registry(name: str = TABLE) -> Iterator[Registry]:
    """In-process moto (no sockets) holding only the metadata table, and a Registry over it."""
    saved = dict(os.environ)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    try:
        with mock_aws():
            aws.reset_clients()
            create_metadata_table(name)
            yield Registry(name)
    finally:
        aws.reset_clients()
        os.environ.clear()
        os.environ.update(saved)
