"""SageMaker job names: unique per account and region for ever, while a run id recurs (the same
upload to another stage, or again after a redeploy). So a job's name holds the stage's prefix for
its kind (training, processing), the run id, and a digest of the run's id and start time, which one
run keeps across retries and no other run has.
"""

from __future__ import annotations

import hashlib

from mlops.definition.description import TRAINING_JOB_PREFIX, Staged
from mlops.entities import Run
from mlops.errors import ConfigError

JOB_NAME_LIMIT = 63


def job_name(stage: str, run: Run, kind: Staged = TRAINING_JOB_PREFIX) -> str:
    """1-63 characters of [a-zA-Z0-9-]: the stage's prefix for this kind of job, the run id, and a
    digest of the run's id and start time (a run id that recurs after a redeploy starts again, at
    another time)."""
    prefix = kind.for_stage(stage)
    digest = hashlib.sha256(f"{run.run_id}\n{run.started_at.isoformat()}".encode()).hexdigest()[:12]
    room = JOB_NAME_LIMIT - len(prefix) - len(digest) - 1
    stem = "".join(c if c.isalnum() else "-" for c in run.run_id)[: max(room, 0)].strip("-")
    name = f"{prefix}{stem}-{digest}" if stem else f"{prefix}{digest}"
    if len(name) > JOB_NAME_LIMIT:
        raise ConfigError(f"The stage name {stage!r} is too long for SageMaker job names ({name}).")
    return name
