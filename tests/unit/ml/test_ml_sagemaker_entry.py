from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.errors import TrainingFailed
from mlops.ml import artifacts
from mlops.ml.dataset import to_parquet_bytes
from mlops.ml.features import prepare_features
from mlops.ml.sagemaker_entry import JobPaths, main, run
from mlops.ml.training import train
from tests.unit.ml.ml_testdata import FEATURES, config_for


def job_layout(root: Path, frame: pd.DataFrame, hyperparameters: dict[str, str]) -> JobPaths:
    """The directories SageMaker mounts in a training container, under ``root``."""
    paths = JobPaths(
        train_dir=root / "input" / "data" / "train",
        config_dir=root / "input" / "config",
        model_dir=root / "model",
        output_dir=root / "output",
    )
    paths.train_dir.mkdir(parents=True)
    paths.config_dir.mkdir(parents=True)
    half = len(frame) // 2
    (paths.train_dir / "part-0.parquet").write_bytes(to_parquet_bytes(frame.iloc[:half]))
    (paths.train_dir / "part-1.parquet").write_bytes(to_parquet_bytes(frame.iloc[half:]))
    (paths.config_dir / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    return paths


def hyperparameters(task: str = "binary") -> dict[str, str]:
    # SageMaker hands every hyperparameter to the container as a string.
    return {
        "config": config_for(task).model_dump_json(),
        "feature_columns": json.dumps(FEATURES),
    }


def test_environment_names_the_directories(
    tmp_path: Path, regression_frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = job_layout(tmp_path, regression_frame, hyperparameters("regression"))
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(paths.train_dir))
    monkeypatch.setenv("SM_INPUT_CONFIG_DIR", str(paths.config_dir))
    monkeypatch.setenv("SM_MODEL_DIR", str(paths.model_dir))
    monkeypatch.setenv("SM_OUTPUT_DIR", str(paths.output_dir))
    assert main([]) == 0
    result = json.loads((paths.model_dir / "result.json").read_text())
    assert set(result["metrics"]) == {"rmse", "mae", "r2"}
    assert result["rows"]["input"] == len(regression_frame)


def test_defaults_are_the_sagemaker_container_paths() -> None:
    paths = JobPaths.from_environment({})
    assert paths.train_dir == Path("/opt/ml/input/data/train")
    assert paths.config_dir == Path("/opt/ml/input/config")
    assert paths.model_dir == Path("/opt/ml/model")
    assert paths.output_dir == Path("/opt/ml/output")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"config": None}, "The training job's hyperparameters have no 'config'."),
        ({"config": "{not json"}, "The training job's hyperparameters are invalid: "),
        (
            {"config": json.dumps({"task": "classification"})},
            "The training job's hyperparameters are invalid: ",
        ),
        ({"feature_columns": json.dumps({"a": 1})}, "The hyperparameter feature_columns must be a JSON list"),
        ({"feature_columns": json.dumps(["nope"])}, "Feature column 'nope' is not in the data."),
    ],
    ids=["no-config", "bad-json", "no-target", "features-not-a-list", "unknown-feature"],
)
def test_failures_exit_1_with_the_reason_in_the_failure_file(
    tmp_path: Path, binary_frame: pd.DataFrame, change: dict[str, str | None], reason: str
) -> None:
    values = {**hyperparameters(), **change}
    paths = job_layout(tmp_path, binary_frame, {k: v for k, v in values.items() if v is not None})
    assert run(paths) == 1
    assert (paths.output_dir / "failure").read_text().startswith(reason)
    assert not paths.model_dir.exists()


def test_an_empty_train_channel_fails(tmp_path: Path, binary_frame: pd.DataFrame) -> None:
    paths = job_layout(tmp_path, binary_frame, hyperparameters())
    for file in paths.train_dir.iterdir():
        file.unlink()
    assert run(paths) == 1
    assert "holds no .parquet file" in (paths.output_dir / "failure").read_text()


def test_pipeline_bytes_round_trip_and_refuse_other_objects(binary_frame: pd.DataFrame) -> None:
    model = train(binary_frame, config_for("binary", "logistic_regression"), FEATURES)
    loaded = artifacts.pipeline_from_bytes(artifacts.pipeline_to_bytes(model.pipeline))
    rows = prepare_features(model.holdout, model.signature)
    np.testing.assert_array_equal(loaded.predict_proba(rows), model.pipeline.predict_proba(rows))
    with pytest.raises(TrainingFailed, match=r"^The stored model is a dict, not a scikit-learn Pipeline\.$"):
        artifacts.pipeline_from_bytes(artifacts.pipeline_to_bytes({"not": "a pipeline"}))  # type: ignore[arg-type]
