"""A crash at each pipeline stage, then a restart: the run ends ABORTED with its reason, not RUNNING
forever, and retraining of its dataset is not refused as "still in flight".

Before: after ``kill -9`` of ``mlops local up`` mid-run and a restart, the run stayed RUNNING and every
drift- or schedule-triggered retrain of the dataset was refused; on AWS the same whenever an execution
ended without reaching the failure recorder (stopped, timed out, a States.Runtime error).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from mlops import aws
from mlops.config import DatasetConfig
from mlops.definition import outputs as out
from mlops.drift.monitoring import drift_alarm_name
from mlops.entities import StageRecord, utcnow
from mlops.local.resources import LOCAL_STAGE
from mlops.registry import Registry
from tests.events import load_event
from tests.faults.conftest import assert_one_sentence, frozen_stack, state_store, upload
from tests.integration.conftest import wait_for
from tests.integration.functions.conftest import ingest_iris, invoke, run_through
from tests.integration.test_pipeline import iris_csv

STEPS = ("validation", "training", "conversion", "promotion")


def _drift_alarm(dataset: str) -> dict[str, object]:
    event = copy.deepcopy(load_event("trigger/alarm_state_change"))
    event["detail"]["alarmName"] = drift_alarm_name(LOCAL_STAGE, dataset)
    event["detail"]["state"]["timestamp"] = utcnow().isoformat()
    return event


@pytest.mark.parametrize("crashed_in", STEPS)
def test_a_run_killed_mid_stage_ends_aborted_after_restart(tmp_path: Path, crashed_in: str) -> None:
    dataset = f"crash-{crashed_in}"
    with frozen_stack() as first:
        registry = Registry(first.stack.outputs[out.METADATA_TABLE])
        payload = ingest_iris(first, registry, dataset)
        done = STEPS[: STEPS.index(crashed_in)]
        payload = run_through(first, payload, *done)
        # The process dies inside the stage: its record says RUNNING, nothing else ran.
        registry.runs.put_stage(
            payload["run_id"], StageRecord(name=crashed_in, status="RUNNING", started_at=utcnow())
        )
        state_store(tmp_path).snapshot()

    with frozen_stack(state_store(tmp_path)) as second:
        registry = Registry(second.stack.outputs[out.METADATA_TABLE])
        run = registry.runs.get_run(payload["run_id"])
        assert run.status == "ABORTED" and run.failed_stage == crashed_in
        assert_one_sentence(run.error)
        assert "no longer exists" in (run.error or "")
        stage = next(s for s in run.stages if s.name == crashed_in)
        assert stage.status == "ABORTED" and stage.error == run.error
        if run.model_version is not None:  # the candidate of an unfinished run never serves
            assert registry.models.get_model_version(dataset, run.model_version).status == "rejected"
        assert registry.datasets.lock_holder(dataset) is None
        outcome = invoke(second, "trigger", _drift_alarm(dataset)).payload["outcomes"][0]
        assert outcome["started"], outcome["reason"]


def test_a_stopped_execution_ends_its_run_aborted() -> None:
    """On AWS: an execution stopped by hand reaches no Catch; its status-change event ends the run."""
    with frozen_stack(wire=True) as stack:
        registry = Registry(stack.stack.outputs[out.METADATA_TABLE])
        registry.datasets.put_config("stopped", DatasetConfig(target="species"))
        bucket = stack.stack.outputs[out.DATA_BUCKET]
        raw = upload(registry, bucket, "stopped", "raw/stopped/iris.csv", iris_csv())
        run = registry.runs.get_run(raw.run_id or "")
        aws.stepfunctions().stop_execution(executionArn=run.execution_arn or "", cause="operator")
        assert stack.bus.report_executions() == [run.execution_arn]  # one event, to the rule's target
        ended = wait_for(lambda: (r := registry.runs.get_run(run.run_id)).status != "RUNNING" and r)
        assert ended.status == "ABORTED" and "stopped" in (ended.error or "")
        assert_one_sentence(ended.error)
        outcome = invoke(stack, "trigger", _drift_alarm("stopped")).payload["outcomes"][0]
        assert outcome["started"], outcome["reason"]


def test_a_multipart_upload_keeps_its_etag_and_version_across_a_restart(tmp_path: Path) -> None:
    """Lineage names the raw object by ETag and version id: both still exist after a restart."""
    key = "raw/multipart/iris.csv"
    with frozen_stack(wire=True) as first:
        registry = Registry(first.stack.outputs[out.METADATA_TABLE])
        registry.datasets.put_config("multipart", DatasetConfig(target="species"))
        bucket = first.stack.outputs[out.DATA_BUCKET]
        s3 = aws.s3()
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=iris_csv())
        done = s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
        )
        etag = done["ETag"].strip('"')
        assert etag.endswith("-1")  # a multipart ETag, which no single PUT reproduces
        raw = wait_for(
            lambda: (r := registry.datasets.get_raw_object("multipart", bucket, key, etag)) and r.run_id and r
        )
        version = registry.datasets.get_dataset_version("multipart", raw.sha256 or "")
        state_store(tmp_path).snapshot()

    with frozen_stack(state_store(tmp_path)) as second:
        s3 = aws.s3()
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ETag"].strip('"') == version.raw.etag == etag
        assert head.get("VersionId") == version.raw.version_id
        body = s3.get_object(Bucket=bucket, Key=key, VersionId=version.raw.version_id or "")["Body"].read()
        assert body == iris_csv()
        registry = Registry(second.stack.outputs[out.METADATA_TABLE])
        assert registry.datasets.get_raw_object("multipart", bucket, key, head["ETag"].strip('"')) is not None
