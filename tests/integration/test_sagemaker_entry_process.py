"""The SageMaker entry point run as SageMaker runs it: ``python -m mlops.ml.sagemaker_entry train`` in a
process of its own, reading the channel and writing the model directory (a fresh interpreter that
imports scikit-learn: seconds, so this tier, not the unit one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlops.ml import artifacts, convert
from tests.unit.ml.ml_testdata import FEATURES, make_frame
from tests.unit.ml.test_ml_sagemaker_entry import hyperparameters, job_layout


@pytest.fixture(scope="module")
def binary_frame() -> pd.DataFrame:
    return make_frame(400, "binary")


def test_module_entry_point_trains_and_writes_the_model_directory(
    tmp_path: Path, binary_frame: pd.DataFrame
) -> None:
    paths = job_layout(tmp_path, binary_frame, hyperparameters())
    env = {
        **os.environ,
        "SM_CHANNEL_TRAIN": str(paths.train_dir),
        "SM_INPUT_CONFIG_DIR": str(paths.config_dir),
        "SM_MODEL_DIR": str(paths.model_dir),
        "SM_OUTPUT_DIR": str(paths.output_dir),
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "mlops.ml.sagemaker_entry", "train"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in paths.model_dir.iterdir()) == [
        "holdout.parquet",
        "model.joblib",
        "result.json",
    ]
    assert not (paths.output_dir / "failure").exists()

    model = artifacts.read_training_output(paths.model_dir)
    assert model.rows["input"] == len(binary_frame)
    assert model.signature.feature_names == FEATURES
    assert model.signature.classes == ["no", "yes"]
    assert set(model.metrics) == {"accuracy", "f1_macro", "log_loss", "roc_auc"}
    # The SageMaker output goes through conversion like an inline model.
    onnx_bytes = convert.to_onnx(model.pipeline, model.signature)
    assert convert.check_parity(onnx_bytes, model.pipeline, model.holdout, model.signature).passed
