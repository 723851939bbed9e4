"""Starting batch jobs: from the CLI, and from objects put under ``batch/<model>/input/`` (the S3 trigger).

A job is an execution of the batch state machine named by the job id, so starting the same job twice
(an S3 event delivered twice) starts one execution. Light on purpose: the trigger function imports this
and not the scoring code.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import TYPE_CHECKING

from mlops.batch.entities import BatchRequest, S3Location
from mlops.entities import utcnow

if TYPE_CHECKING:
    from mlops.executions import StepFunctionsExecutions

# batch/<model>/input/<anything> scores into batch/<model>/output/<job>/
_TRIGGER_KEY = re.compile(r"^batch/(?P<model>[^/]+)/input/.+$")
_JOB_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def new_job_id(model: str, seed: str | None = None) -> str:
    """An execution name (at most 80 of [A-Za-z0-9_-]); with a seed, the same seed gives the same id."""
    if seed is not None:
        suffix = hashlib.sha256(seed.encode()).hexdigest()[:16]
    else:
        suffix = f"{utcnow().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    return f"{_JOB_ID_UNSAFE.sub('-', model)[:48]}-{suffix}"


def start_job(executions: StepFunctionsExecutions, state_machine_arn: str, request: BatchRequest) -> str:
    """Start the batch state machine; the job id is the execution name, so a repeat starts nothing."""
    return executions.start(state_machine_arn, request.job_id, request.model_dump_json())


def request_from_upload(bucket: str, key: str, etag: str) -> BatchRequest | None:
    """The job an object under batch/<model>/input/ starts (None for any other key, outputs included)."""
    match = _TRIGGER_KEY.match(key)
    if match is None or key.endswith("/"):
        return None
    model = match["model"]
    job_id = new_job_id(model, seed=f"{bucket}/{key}@{etag}")
    return BatchRequest(
        job_id=job_id,
        model=model,
        input=S3Location(bucket=bucket, key=key),
        output=S3Location(bucket=bucket, key=f"batch/{model}/output/{job_id}/"),
        trigger="s3",
    )
