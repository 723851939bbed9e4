"""Training stage: fit the pipeline inline, or as a SageMaker training job the state machine polls.

Both backends end in ``register_candidate`` (``mlops.pipeline.candidates``): the fitted pipeline, its
holdout, the drift baseline and the metrics are stored as artifacts of a new model version with status
``candidate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops.config import DatasetConfig
from mlops.entities import TrainingBackend
from mlops.errors import StageOrderError
from mlops.pipeline.candidates import register_candidate, training_frame
from mlops.pipeline.deps import Deps, run_config
from mlops.pipeline.payload import RunPayload, TrainingOutcome
from mlops.pipeline.stages import stage
from mlops.settings import TrainingSettings

if TYPE_CHECKING:
    import pandas as pd

    from mlops.ml.training import TrainedModel


def choose_backend(config: DatasetConfig, settings: TrainingSettings, rows: int) -> TrainingBackend:
    if config.training_backend != "default":
        return config.training_backend
    if rows > settings.inline_max_rows and settings.sagemaker_image_uri and settings.sagemaker_role_arn:
        return "sagemaker"  # past what a Lambda trains comfortably
    return settings.training_backend


def train_run(deps: Deps, payload: RunPayload, settings: TrainingSettings) -> RunPayload:
    from mlops.ml import dataset as ds
    from mlops.pipeline import sagemaker

    if payload.validation is None:
        raise StageOrderError("The run reached training without a validation result.")
    with stage(deps.registry.runs, payload.run_id, "training") as log:
        config = run_config(deps, payload)
        earlier = _already_trained(deps, payload)
        if earlier is not None:
            outcome = earlier  # a retried invocation: the first one registered the candidate
        elif payload.training is not None and payload.training.status == "InProgress":
            trained = sagemaker.poll(deps, payload, settings)
            outcome = payload.training if trained is None else _registered(deps, payload, config, trained)
        else:
            version = deps.registry.datasets.get_dataset_version(payload.dataset, payload.dataset_version)
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


def _already_trained(deps: Deps, payload: RunPayload) -> TrainingOutcome | None:
    run = deps.registry.runs.get_run(payload.run_id)
    if run.model_version is None:
        return None
    model = deps.registry.models.find_model_version(payload.dataset, run.model_version)
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


def _registered(
    deps: Deps, payload: RunPayload, config: DatasetConfig, trained: TrainedModel
) -> TrainingOutcome:
    """A completed training job's model, registered against the frame the job trained on."""
    from mlops.ml.sampling import BASELINE_ROWS, read_parquet_sample

    assert payload.training is not None
    version = deps.registry.datasets.get_dataset_version(payload.dataset, payload.dataset_version)
    # The rows only feed the drift baseline, which profiles a bounded sample: read just that sample.
    sample = read_parquet_sample(deps.storage.get_verified(version.canonical), BASELINE_ROWS)
    frame = training_frame(sample, config)
    model = register_candidate(deps, payload, config, trained, frame)
    return TrainingOutcome(
        status="Completed",
        backend="sagemaker",
        job_name=payload.training.job_name,
        model_version=model.version,
        metrics=model.metrics,
    )
