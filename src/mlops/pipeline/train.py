"""Training stage: fit the pipeline inline, or as a SageMaker training job the state machine polls.

Both backends end in ``register_candidate``: the fitted pipeline, its holdout, the drift baseline and
the metrics are stored as artifacts of a new model version with status ``candidate``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mlops import __version__
from mlops.config import DatasetConfig
from mlops.errors import TrainingFailed
from mlops.models import ArtifactRef, ModelVersion, utcnow
from mlops.pipeline.deps import Deps, run_config
from mlops.pipeline.payload import RunPayload, TrainingOutcome
from mlops.pipeline.stages import stage
from mlops.records import inline_signature
from mlops.settings import TrainingSettings

if TYPE_CHECKING:
    import pandas as pd

    from mlops.ml.training import TrainedModel


def choose_backend(config: DatasetConfig, settings: TrainingSettings, rows: int) -> str:
    if config.training_backend != "default":
        return config.training_backend
    if rows > settings.inline_max_rows and settings.sagemaker_image_uri and settings.sagemaker_role_arn:
        return "sagemaker"  # past what a Lambda trains comfortably
    return settings.training_backend


def train_run(deps: Deps, payload: RunPayload, settings: TrainingSettings) -> RunPayload:
    from mlops.ml import dataset as ds
    from mlops.pipeline import sagemaker

    if payload.validation is None:
        raise TrainingFailed("The run reached training without a validation result.")
    with stage(deps.registry, payload.run_id, "training") as log:
        config = run_config(deps, payload)
        earlier = _already_trained(deps, payload)
        if earlier is not None:
            outcome = earlier  # a retried invocation: the first one registered the candidate
        elif payload.training is not None and payload.training.status == "InProgress":
            outcome = sagemaker.poll(deps, payload, config, settings)
        else:
            version = deps.registry.get_dataset_version(payload.dataset, payload.dataset_version)
            backend = choose_backend(config, settings, version.rows)
            if backend == "sagemaker":
                outcome = sagemaker.start(deps, payload, config, settings, version.canonical)
            else:
                frame = training_frame(
                    ds.read_parquet_bytes(deps.storage.get_verified(version.canonical)), config
                )
                outcome = train_inline(deps, payload, config, frame)
        log.summary.update(outcome.model_dump(exclude_none=True))
        if outcome.status == "InProgress":
            log.summary["_in_progress"] = True
    return payload.model_copy(update={"training": outcome})


def training_frame(canonical: pd.DataFrame, config: DatasetConfig) -> pd.DataFrame:
    """The canonical copy as validation saw it (numbers parsed per the config's rule)."""
    from mlops.ml.validation import prepare_frame

    return prepare_frame(canonical, config)


def _already_trained(deps: Deps, payload: RunPayload) -> TrainingOutcome | None:
    run = deps.registry.get_run(payload.run_id)
    if run.model_version is None:
        return None
    model = deps.registry.find_model_version(payload.dataset, run.model_version)
    if model is None or "sklearn" not in model.artifacts:
        return None
    backend = payload.training.backend if payload.training else "inline"
    return TrainingOutcome(
        status="Completed", backend=backend, model_version=model.version, metrics=model.metrics
    )


def train_inline(
    deps: Deps, payload: RunPayload, config: DatasetConfig, frame: pd.DataFrame
) -> TrainingOutcome:
    from mlops.ml.training import train

    assert payload.validation is not None
    trained = train(frame, config, payload.validation.feature_columns)
    model = register_candidate(deps, payload, config, trained, frame)
    return TrainingOutcome(
        status="Completed", backend="inline", model_version=model.version, metrics=model.metrics
    )


def register_candidate(
    deps: Deps, payload: RunPayload, config: DatasetConfig, trained: TrainedModel, frame: pd.DataFrame
) -> ModelVersion:
    from mlops.drift.baseline import build_baseline
    from mlops.ml import dataset as ds
    from mlops.ml.artifacts import pipeline_to_bytes
    from mlops.ml.features import prepare_features
    from mlops.ml.sampling import BASELINE_ROWS, HOLDOUT_ROWS, sample_frame

    name = payload.dataset
    number = deps.registry.next_model_version(name)
    prefix = f"models/{name}/v{number}"
    signature = trained.signature
    # Bounded on big data: the baseline profiles an evenly spaced sample of the training rows, and the
    # stored holdout (which parity and promotion score) is one of the holdout (mlops.ml.sampling).
    features = prepare_features(sample_frame(frame, BASELINE_ROWS), signature)
    holdout = sample_frame(trained.holdout, HOLDOUT_ROWS)
    holdout_features = prepare_features(holdout, signature)
    predictions = trained.pipeline.predict(holdout_features)
    baseline = build_baseline(
        numeric={f.name: features[f.name].to_numpy() for f in signature.features if f.kind == "numeric"},
        categorical={
            f.name: features[f.name].to_numpy() for f in signature.features if f.kind == "categorical"
        },
        predictions=predictions,
        task=config.task,
        classes=signature.classes,
    )
    put = deps.storage.put
    artifacts: dict[str, ArtifactRef] = {
        # The full signature is an artifact from the start: the item carries it only while it fits.
        "signature": put(
            deps.artifact_bucket,
            f"{prefix}/signature.json",
            signature.model_dump_json(indent=2).encode(),
            "application/json",
        ),
        "sklearn": put(deps.artifact_bucket, f"{prefix}/model.joblib", pipeline_to_bytes(trained.pipeline)),
        "holdout": put(deps.artifact_bucket, f"{prefix}/holdout.parquet", ds.to_parquet_bytes(holdout)),
        "baseline": put(
            deps.artifact_bucket, f"{prefix}/baseline.json", json.dumps(baseline).encode(), "application/json"
        ),
    }
    model = ModelVersion(
        name=name,
        version=number,
        status="candidate",
        task=config.task,
        metrics=trained.metrics,
        baseline_metrics=trained.baseline_metrics,
        dataset_version=payload.dataset_version,
        run_id=payload.run_id,
        artifacts=artifacts,
        signature=inline_signature(signature),
        params=trained.params,
        library_versions=trained.versions,
        code_version=f"serverless-mlops {__version__}",
        durations=trained.durations,
        trained_at=utcnow(),
    )
    deps.registry.put_model_version(model)
    run = deps.registry.get_run(payload.run_id)
    deps.registry.save_run(run.model_copy(update={"model_version": number, "stages": []}))
    return model
