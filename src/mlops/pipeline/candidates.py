"""A trained model becomes a candidate: its artifacts stored, a new model version registered.

The inline backend and a completed SageMaker training job both end here, with the same ``TrainedModel``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlops import __version__
from mlops.artifact_keys import model_key
from mlops.config import DatasetConfig
from mlops.entities import ArtifactRef, ModelVersion, utcnow
from mlops.pipeline.deps import Deps
from mlops.pipeline.payload import RunPayload
from mlops.records import inline_signature

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlops.drift.baseline import KeyedColumn
    from mlops.ml.training import TrainedModel


def training_frame(canonical: pd.DataFrame, config: DatasetConfig) -> pd.DataFrame:
    """The canonical copy as validation saw it (numbers parsed per the config's rule)."""
    from mlops.ml.validation import prepare_frame

    return prepare_frame(canonical, config)


def _keyed(values: np.ndarray[Any, Any], key: Callable[[Any], str]) -> KeyedColumn:
    """A column keyed once per distinct value (hashed by pandas, not sorted as Python objects)."""
    import pandas as pd

    from mlops.drift.baseline import KeyedColumn

    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    return KeyedColumn.of_distinct(codes, list(distinct), key)


def register_candidate(
    deps: Deps, payload: RunPayload, config: DatasetConfig, trained: TrainedModel, frame: pd.DataFrame
) -> ModelVersion:
    from mlops.drift.baseline import build_baseline, category_key, class_key
    from mlops.ml import dataset as ds
    from mlops.ml.artifacts import pipeline_to_bytes
    from mlops.ml.features import prepare_features
    from mlops.ml.sampling import BASELINE_ROWS, HOLDOUT_ROWS, evenly_spaced, sample_frame

    name = payload.dataset
    number = deps.registry.models.next_model_version(name)
    signature = trained.signature
    # Bounded on big data: the baseline profiles an evenly spaced sample of the training rows, and the
    # stored holdout (which parity and promotion score) is one of the holdout (mlops.ml.sampling).
    features = prepare_features(sample_frame(frame, BASELINE_ROWS), signature)
    holdout = sample_frame(trained.holdout, HOLDOUT_ROWS)
    if trained.holdout_predictions is not None:  # training scored these rows already
        predictions = trained.holdout_predictions[evenly_spaced(len(trained.holdout), HOLDOUT_ROWS)]
    else:
        predictions = trained.pipeline.predict(prepare_features(holdout, signature))
    classification = config.task == "classification"
    baseline = build_baseline(
        numeric={f.name: features[f.name].to_numpy() for f in signature.features if f.kind == "numeric"},
        categorical={
            f.name: _keyed(features[f.name].to_numpy(), category_key)
            for f in signature.features
            if f.kind == "categorical"
        },
        predictions=_keyed(predictions, class_key) if classification else predictions,
        task=config.task,
        classes=signature.classes,
    )
    put = deps.storage.put
    artifacts: dict[str, ArtifactRef] = {
        # The full signature is an artifact from the start: the item carries it only while it fits.
        "signature": put(
            deps.artifact_bucket,
            model_key(name, number, "signature.json"),
            signature.model_dump_json(indent=2).encode(),
            "application/json",
        ),
        "sklearn": put(
            deps.artifact_bucket, model_key(name, number, "model.joblib"), pipeline_to_bytes(trained.pipeline)
        ),
        "holdout": put(
            deps.artifact_bucket,
            model_key(name, number, "holdout.parquet"),
            ds.to_parquet_bytes(holdout),
        ),
        "baseline": put(
            deps.artifact_bucket,
            model_key(name, number, "baseline.json"),
            json.dumps(baseline).encode(),
            "application/json",
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
    deps.registry.models.create_model_version(model)
    run = deps.registry.runs.get_run(payload.run_id)
    deps.registry.runs.save_run(run.model_copy(update={"model_version": number, "stages": []}))
    return model
