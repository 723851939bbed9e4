"""Where things live in the buckets: every S3 key the domain writes is built here.

Data bucket: ``datasets/{dataset}/{sha256}/{file}`` (a dataset version's canonical copy and details).
Artifacts bucket: ``models/{name}/v{version}/{file}`` (a model version's artifacts),
``reports/validation/{dataset}/{run_id}.json``, ``reports/drift/{model}/v{version}/{stamp}.{json,html}``
and ``sagemaker/{dataset}/{run_id}/`` (a training job's output).
"""

from __future__ import annotations


def model_key(name: str, version: int, file: str) -> str:
    return f"models/{name}/v{version}/{file}"


def dataset_key(dataset: str, sha256: str, file: str) -> str:
    return f"datasets/{dataset}/{sha256}/{file}"


def dataset_staging_key(dataset: str, upload_id: str) -> str:
    """Where an upload's Parquet copy is written while it is read, before its sha256 names it."""
    return f"datasets/{dataset}/staging/{upload_id}.parquet"


def validation_report_key(dataset: str, run_id: str) -> str:
    return f"reports/validation/{dataset}/{run_id}.json"


def drift_report_stem(model: str, version: int, stamp: str) -> str:
    """The drift report's key without its extension (a .json and an .html share it)."""
    return f"reports/drift/{model}/v{version}/{stamp}"


def training_output_prefix(dataset: str, run_id: str) -> str:
    return f"sagemaker/{dataset}/{run_id}/"
