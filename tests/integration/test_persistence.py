"""A restart of the embedded stack on the same state dir keeps datasets, runs and models."""

from __future__ import annotations

from pathlib import Path

from mlops import aws
from mlops.config import DatasetConfig
from mlops.definition import description as d
from mlops.local.persistence import StateStore
from mlops.local.resources import physical_name
from mlops.registry import Registry
from tests.integration.conftest import embedded_stack, wait_for, wait_for_run
from tests.integration.test_pipeline import iris_csv


def _store(root: Path) -> StateStore:
    return StateStore(
        root,
        buckets=[physical_name(b.name) for b in d.BUCKETS],
        tables=[physical_name(t.name) for t in d.TABLES],
    )


def test_restart_keeps_datasets_runs_and_models(tmp_path: Path) -> None:
    with embedded_stack(_store(tmp_path)) as first:
        registry = Registry(first.stack.outputs["MetadataTableName"])
        registry.datasets.put_config("iris", DatasetConfig(target="species"))
        bucket = first.stack.outputs["DataBucketName"]
        etag = aws.s3().put_object(Bucket=bucket, Key="raw/iris/iris.csv", Body=iris_csv())["ETag"].strip('"')
        raw = wait_for(
            lambda: (
                (r := registry.datasets.get_raw_object("iris", bucket, "raw/iris/iris.csv", etag))
                and r.run_id
                and r
            )
        )
        run = wait_for_run(registry, raw.run_id)
        assert run.status == "SUCCEEDED"
        _store(tmp_path).snapshot()
        model = registry.models.get_production("iris")
        assert model is not None

    with embedded_stack(_store(tmp_path)) as second:
        registry = Registry(second.stack.outputs["MetadataTableName"])
        again = registry.models.get_production("iris")
        assert again is not None and again.version == model.version
        assert registry.runs.get_run(run.run_id).status == "SUCCEEDED"
        assert [v.sha256 for v in registry.datasets.list_dataset_versions("iris")] == [model.dataset_version]
        onnx = again.artifacts["onnx"]
        assert aws.s3().get_object(Bucket=onnx.bucket, Key=onnx.key)["ContentLength"] == onnx.size
        # Restoring raw/ objects happens before the S3 notification exists: nothing ran again.
        assert len(registry.runs.list_runs("iris")) == 1
