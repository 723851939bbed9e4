"""What a training run leaves behind, as bytes or as a directory (SageMaker's model directory).

A directory holds ``model.joblib`` (the fitted pipeline), ``result.json`` (``TrainedModel.result()``:
signature, metrics, baseline, params, durations, versions, rows, search, and the sha256 of the two
other files) and ``holdout.parquet``. Reading checks both digests before anything is unpickled.
The same three files come back from a SageMaker job (inside ``model.tar.gz``) and from inline training,
so promotion and conversion read either the same way.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import joblib
from sklearn.pipeline import Pipeline

from mlops.errors import TrainingFailed
from mlops.ml.dataset import read_parquet_bytes, to_parquet_bytes
from mlops.ml.sampling import HOLDOUT_ROWS, read_parquet_sample
from mlops.ml.training import TrainedModel
from mlops.signature import Signature

PIPELINE_FILE = "model.joblib"
RESULT_FILE = "result.json"
HOLDOUT_FILE = "holdout.parquet"
CHECKSUMS = "sha256"


def pipeline_to_bytes(pipeline: Pipeline) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer, compress=3)
    return buffer.getvalue()


def pipeline_from_bytes(data: bytes) -> Pipeline:
    """Load a pipeline this project wrote (joblib is pickle: never load one from elsewhere)."""
    loaded = joblib.load(io.BytesIO(data))
    if not isinstance(loaded, Pipeline):
        raise TrainingFailed(f"The stored model is a {type(loaded).__name__}, not a scikit-learn Pipeline.")
    return loaded


def write_training_output(model: TrainedModel, directory: Path) -> dict[str, Path]:
    """Write the three files into ``directory`` (created if needed); returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        PIPELINE_FILE: directory / PIPELINE_FILE,
        RESULT_FILE: directory / RESULT_FILE,
        HOLDOUT_FILE: directory / HOLDOUT_FILE,
    }
    files = {PIPELINE_FILE: pipeline_to_bytes(model.pipeline), HOLDOUT_FILE: to_parquet_bytes(model.holdout)}
    result = {
        **model.result(),
        CHECKSUMS: {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    for name, data in files.items():
        paths[name].write_bytes(data)
    paths[RESULT_FILE].write_text(json.dumps(result, indent=2, sort_keys=True))
    return paths


def read_training_output(directory: Path) -> TrainedModel:
    """The ``TrainedModel`` a directory written by ``write_training_output`` holds."""
    missing = [
        name for name in (PIPELINE_FILE, RESULT_FILE, HOLDOUT_FILE) if not (directory / name).is_file()
    ]
    if missing:
        raise TrainingFailed(f"The training output has no {missing[0]}.")
    result = json.loads((directory / RESULT_FILE).read_text())
    files = {name: (directory / name).read_bytes() for name in (PIPELINE_FILE, HOLDOUT_FILE)}
    recorded = result.get(CHECKSUMS) if isinstance(result, dict) else None
    if not isinstance(recorded, dict):
        raise TrainingFailed(f"The training output's {RESULT_FILE} records no sha256 of its files.")
    for name, data in files.items():
        if hashlib.sha256(data).hexdigest() != recorded.get(name):
            raise TrainingFailed(
                f"The training output's {name} does not match the sha256 its job recorded; it is not loaded."
            )
    # A job's holdout grows with the table; what is kept of it is the bounded sample the candidate stores.
    return model_from_parts(
        pipeline=files[PIPELINE_FILE], result=result, holdout=files[HOLDOUT_FILE], holdout_rows=HOLDOUT_ROWS
    )


def model_from_parts(
    pipeline: bytes, result: dict[str, Any], holdout: bytes, holdout_rows: int | None = None
) -> TrainedModel:
    """Rebuild a ``TrainedModel`` from the stored pipeline, result document and holdout Parquet (read as
    its evenly spaced sample of ``holdout_rows`` rows when given, one row group at a time)."""
    return TrainedModel(
        pipeline=pipeline_from_bytes(pipeline),
        signature=Signature.model_validate(result["signature"]),
        holdout=read_parquet_bytes(holdout)
        if holdout_rows is None
        else read_parquet_sample(holdout, holdout_rows),
        metrics=dict(result["metrics"]),
        baseline_metrics=dict(result["baseline_metrics"]),
        params=dict(result["params"]),
        durations=dict(result["durations"]),
        versions=dict(result["versions"]),
        rows=dict(result["rows"]),
        search=result.get("search"),
    )
