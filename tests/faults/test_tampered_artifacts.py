"""Tampered artifacts: a model file that is not the one its job or run wrote is refused before it is
unpickled or served, the run fails naming it, and the next good upload trains.

Before: the SageMaker path unpickled ``model.joblib`` from the job's ``model.tar.gz`` with no sha256
check, while every other artifact load was verified.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import joblib
import pytest

from mlops import aws
from mlops.config import DatasetConfig
from mlops.local.embedded import EmbeddedStack
from mlops.ml.artifacts import PIPELINE_FILE
from mlops.registry import Registry
from tests.faults.conftest import assert_one_sentence, frozen_stack
from tests.integration.functions.conftest import ingest_iris, invoke, iris_frame, run_through
from tests.integration.functions.test_training_sagemaker import _run_job_locally, ended_job


class _Tripwire:
    """Unpickling it creates a directory: proof that a pickle was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (str(self.path),))


def _with_file(archive: bytes, name: str, data: bytes) -> bytes:
    """The archive with one member's content replaced (the rest, result.json included, unchanged)."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as source,
        tarfile.open(fileobj=out, mode="w:gz") as target,
    ):
        for member in source.getmembers():
            content = data if member.name == name else source.extractfile(member).read()  # type: ignore[union-attr]
            member.size = len(content)
            target.addfile(member, io.BytesIO(content))
    return out.getvalue()


def _start_job(
    stack: EmbeddedStack, registry: Registry, dataset: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    payload = ingest_iris(stack, registry, dataset)
    registry.datasets.put_config(dataset, DatasetConfig(target="species", training_backend="sagemaker"))
    payload = run_through(stack, payload, "validation", "training")
    return payload, ended_job(payload["training"]["job_name"])


def _fails_training(stack: EmbeddedStack, registry: Registry, payload: dict[str, Any]) -> str:
    result = invoke(stack, "training", payload)
    assert result.failed
    message = str(result.payload["errorMessage"])
    assert_one_sentence(message)
    return message


@pytest.mark.parametrize("tampering", ["pickle_swapped", "archive_replaced"])
def test_a_tampered_training_output_is_never_unpickled(tmp_path: Path, tampering: str) -> None:
    tripwire = tmp_path / "unpickled"
    with frozen_stack() as stack:
        registry = Registry(stack.stack.outputs["MetadataTableName"])
        dataset = f"tampered-{tampering.replace('_', '-')}"
        payload, job = _start_job(stack, registry, dataset)
        bucket, key = job["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
        written = aws.s3().get_object(Bucket=bucket, Key=key)
        genuine = written["Body"].read()
        evil = io.BytesIO()
        joblib.dump(_Tripwire(tripwire), evil)
        if tampering == "pickle_swapped":  # inside the archive, result.json left as the job wrote it
            # The job's own version removed, so the swapped archive is the only one: the digests catch it.
            aws.s3().delete_object(Bucket=bucket, Key=key, VersionId=written["VersionId"])
            aws.s3().put_object(
                Bucket=bucket, Key=key, Body=_with_file(genuine, PIPELINE_FILE, evil.getvalue())
            )
            expected = "does not match the sha256"
        else:  # the whole archive replaced after the job, checksums and all
            forged = _run_job_locally(job, tmp_path / "forged")
            aws.s3().put_object(Bucket=bucket, Key=key, Body=forged)
            expected = "was replaced after the training job wrote it"
        message = _fails_training(stack, registry, payload)
        assert expected in message, message
        assert not tripwire.exists()

        # The failure recorder ends the run with that sentence, production untouched...
        cause = json.dumps({"errorMessage": message, "errorType": "TrainingFailed"})
        caught = {**payload, "failed_stage": "training", "error": {"Error": "TrainingFailed", "Cause": cause}}
        run_through(stack, caught, "failure")
        run = registry.runs.get_run(payload["run_id"])
        assert run.status == "FAILED" and message in (run.error or "")
        assert registry.models.get_alias(dataset) is None
        # ...and the next upload, trained inline, is promoted.
        registry.datasets.put_config(dataset, DatasetConfig(target="species"))
        again = ingest_iris(stack, registry, dataset, frame=iris_frame().iloc[:-1])
        done = run_through(stack, again, "validation", "training", "conversion", "promotion")
        assert done["promotion"]["promoted"]
