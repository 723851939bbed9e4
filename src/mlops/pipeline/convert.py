"""Conversion stage: the fitted pipeline to ONNX, then the parity gate against scikit-learn."""

from __future__ import annotations

from mlops.artifact_keys import model_key
from mlops.errors import ConversionFailed
from mlops.pipeline.deps import Deps
from mlops.pipeline.payload import ConversionOutcome, RunPayload
from mlops.pipeline.stages import stage
from mlops.records import model_signature
from mlops.signature_types import BULK_ARTIFACT


def convert_run(deps: Deps, payload: RunPayload) -> RunPayload:
    from mlops.ml import dataset as ds
    from mlops.ml.artifacts import pipeline_from_bytes
    from mlops.ml.convert import check_parity, to_bulk_onnx, to_onnx

    if payload.training is None or payload.training.model_version is None:
        raise ConversionFailed("The run reached conversion without a trained model version.")
    name, number = payload.dataset, payload.training.model_version
    with stage(deps.registry.runs, payload.run_id, "conversion") as log:
        model = deps.registry.models.get_model_version(name, number)
        signature = model_signature(deps.storage, model)
        if signature is None:
            raise ConversionFailed(f"Model '{name}' version {number} has no signature.")
        pipeline = pipeline_from_bytes(deps.storage.get_verified(model.artifacts["sklearn"]))
        holdout = ds.read_parquet_bytes(deps.storage.get_verified(model.artifacts["holdout"]))
        onnx_bytes = to_onnx(pipeline, signature)
        bulk_bytes = to_bulk_onnx(onnx_bytes)
        parity = check_parity(onnx_bytes, pipeline, holdout, signature, bulk_bytes)
        artifacts = dict(model.artifacts)
        artifacts["onnx"] = deps.storage.put(
            deps.artifact_bucket, model_key(name, number, "model.onnx"), onnx_bytes
        )
        if bulk_bytes is not None:
            # Large batches' graph (tree ensembles): serving builds it on the first large request.
            artifacts[BULK_ARTIFACT] = deps.storage.put(
                deps.artifact_bucket, model_key(name, number, "model.bulk.onnx"), bulk_bytes
            )
        artifacts["signature"] = deps.storage.put(
            deps.artifact_bucket,
            model_key(name, number, "signature.json"),
            signature.model_dump_json(indent=2).encode(),
            "application/json",
        )
        parity_doc = parity.model_dump(mode="json")
        deps.registry.models.put_model_version(
            model.model_copy(update={"artifacts": artifacts, "parity": parity_doc})
        )
        log.summary.update(
            parity=parity_doc,
            onnx_sha256=artifacts["onnx"].sha256,
            onnx_bytes=len(onnx_bytes),
            bulk_onnx_bytes=None if bulk_bytes is None else len(bulk_bytes),
        )
        if not parity.passed:
            raise ConversionFailed(parity.message)
    outcome = ConversionOutcome(model_version=number, onnx_sha256=artifacts["onnx"].sha256, parity=parity_doc)
    return payload.model_copy(update={"conversion": outcome})
