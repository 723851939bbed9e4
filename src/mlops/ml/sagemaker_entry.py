"""SageMaker training-job entry point: ``/var/lang/bin/python3.12 -m mlops.ml.sagemaker_entry`` in the ML
image (``mlops.pipeline.sagemaker.ENTRYPOINT``).

Runs the same ``train()`` as inline training, on the job's container layout:

- input: every ``*.parquet`` of the ``train`` channel (``/opt/ml/input/data/train``, concatenated in
  name order) and ``/opt/ml/input/config/hyperparameters.json``, whose ``"config"`` is the dataset
  config as JSON and ``"feature_columns"`` the JSON list of columns to train on (SageMaker passes every
  hyperparameter as a string; already-parsed values are accepted too);
- output: ``model.joblib``, ``result.json`` and ``holdout.parquet`` in ``/opt/ml/model`` (see
  ``mlops.ml.artifacts``), which SageMaker uploads as ``model.tar.gz``;
- on failure: exit code 1 and the one-sentence reason in ``/opt/ml/output/failure``, which SageMaker
  reports as the job's ``FailureReason``.

The directories follow the ``SM_CHANNEL_TRAIN``, ``SM_INPUT_CONFIG_DIR``, ``SM_MODEL_DIR`` and
``SM_OUTPUT_DIR`` variables the SageMaker training toolkit sets; this adapter is the one place that
reads them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from mlops.config import DatasetConfig
from mlops.errors import ConfigError, MlopsError, TrainingFailed
from mlops.ml.artifacts import write_training_output
from mlops.ml.dataset import read_parquet_bytes
from mlops.ml.training import train
from mlops.ml.validation import prepare_frame

logger = logging.getLogger("mlops.ml.sagemaker_entry")

FAILURE_FILE = "failure"
HYPERPARAMETERS_FILE = "hyperparameters.json"


@dataclass(frozen=True)
class JobPaths:
    train_dir: Path
    config_dir: Path
    model_dir: Path
    output_dir: Path

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> JobPaths:
        return cls(
            train_dir=Path(environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")),
            config_dir=Path(environ.get("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config")),
            model_dir=Path(environ.get("SM_MODEL_DIR", "/opt/ml/model")),
            output_dir=Path(environ.get("SM_OUTPUT_DIR", "/opt/ml/output")),
        )


def read_hyperparameters(config_dir: Path) -> tuple[DatasetConfig, list[str]]:
    path = config_dir / HYPERPARAMETERS_FILE
    if not path.is_file():
        raise ConfigError(f"The training job has no {HYPERPARAMETERS_FILE}.")
    try:
        hyperparameters: dict[str, Any] = json.loads(path.read_text())
        config = _parsed(hyperparameters, "config")
        features = _parsed(hyperparameters, "feature_columns")
        dataset_config = DatasetConfig.model_validate(config)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ConfigError(f"The training job's hyperparameters are invalid: {_first_line(exc)}") from exc
    if not isinstance(features, list) or not all(isinstance(name, str) for name in features):
        raise ConfigError("The hyperparameter feature_columns must be a JSON list of column names.")
    return dataset_config, features


def _parsed(hyperparameters: Mapping[str, Any], key: str) -> Any:
    if key not in hyperparameters:
        raise ConfigError(f"The training job's hyperparameters have no {key!r}.")
    value = hyperparameters[key]
    return json.loads(value) if isinstance(value, str) else value


def read_training_channel(train_dir: Path) -> pd.DataFrame:
    files = sorted(train_dir.glob("*.parquet"))
    if not files:
        raise TrainingFailed(f"The train channel {train_dir} holds no .parquet file.")
    frames = [read_parquet_bytes(file.read_bytes()) for file in files]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def run(paths: JobPaths) -> int:
    """Train and write the model directory; 0 on success, 1 with ``output/failure`` written otherwise."""
    try:
        config, features = read_hyperparameters(paths.config_dir)
        frame = prepare_frame(read_training_channel(paths.train_dir), config)
        logger.info("training %s on %d rows, %d features", config.estimator, len(frame), len(features))
        model = train(frame, config, features)
        write_training_output(model, paths.model_dir)
    except MlopsError as exc:
        _fail(paths, str(exc))
        return 1
    except OSError as exc:
        _fail(paths, f"The training job could not read or write its files: {exc}.")
        return 1
    logger.info("metrics %s durations %s", model.metrics, model.durations)
    return 0


def _fail(paths: JobPaths, reason: str) -> None:
    logger.error("training failed: %s", reason)
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    (paths.output_dir / FAILURE_FILE).write_text(reason)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = " ".join(lines[:3]) if lines else type(exc).__name__
    return text if text.endswith(".") else f"{text}."


# ``--check`` alone: the image build runs the entry point once, proving the interpreter path and the
# imports; it trains nothing.
CHECK_ARGUMENTS = ["--check"]


def main(argv: Sequence[str] | None = None) -> int:
    # SageMaker passes hyperparameters as arguments too; the JSON file is the source used.
    if list(argv or []) == CHECK_ARGUMENTS:
        return 0
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    return run(JobPaths.from_environment(os.environ))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
