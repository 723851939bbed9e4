"""Size routing: uploads past ``PROCESSING_MIN_BYTES`` are ingested and validated by a SageMaker
Processing job, smaller ones by the functions, and both reach production.

Before, every upload was read whole by the ingest function (3,008 MB), so one past roughly 450 MiB
died out of memory, and one over ``max_upload_bytes`` was read in full before being refused. The
threshold is lowered through the functions' environment so that a file of a few KiB takes the path a
256 MiB one does, through ``mlops upload --wait`` on the embedded stack, where the job really runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops import aws
from mlops.local.embedded import EmbeddedStack
from mlops.local.processing import ALGORITHM_ERROR, PROCESSING_LOG_GROUP
from mlops.registry import Registry
from tests.integration.conftest import embedded_stack, run_cli
from tests.integration.test_cli import classification_csv

PROCESSING_MIN_BYTES = 6_000
MAX_UPLOAD_BYTES = 40_000


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedStack]:
    env = {"PROCESSING_MIN_BYTES": str(PROCESSING_MIN_BYTES), "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES)}
    with embedded_stack(function_env=env) as stack:
        yield stack


def upload(path: Path, dataset: str) -> tuple[int, str, str]:
    outcome = run_cli(
        "upload", str(path), "--dataset", dataset, "--target", "label", "--wait", "--timeout", "300"
    )
    return outcome.code, outcome.out, outcome.err


def job_logs(job: str) -> list[str]:
    logs = aws.client("logs")
    streams = logs.describe_log_streams(logGroupName=PROCESSING_LOG_GROUP, logStreamNamePrefix=f"{job}/")
    (stream,) = streams["logStreams"]
    events = logs.get_log_events(logGroupName=PROCESSING_LOG_GROUP, logStreamName=stream["logStreamName"])
    return [e["message"] for e in events["events"]]


def test_small_upload_stays_in_the_functions_and_a_big_one_runs_a_processing_job(
    embedded: EmbeddedStack, registry: Registry, tmp_path: Path
) -> None:
    small = classification_csv(tmp_path / "small.csv", 100, 1)
    assert small.stat().st_size < PROCESSING_MIN_BYTES
    code, out, err = upload(small, "routed")
    assert code == 0, err
    assert "model routed v1 promoted to production." in out.splitlines()[0]
    (first,) = registry.runs.list_runs("routed")
    ingest = registry.runs.get_stage(first.run_id, "ingest")
    assert ingest is not None and "backend" not in ingest.summary
    assert "job_name" not in (registry.runs.get_stage(first.run_id, "validation") or ingest).summary

    big = classification_csv(tmp_path / "big.csv", 600, 2)
    assert PROCESSING_MIN_BYTES <= big.stat().st_size <= MAX_UPLOAD_BYTES
    code, out, err = upload(big, "routed")
    assert code == 0, err
    assert "model routed v2 promoted to production." in out.splitlines()[0]
    second = next(r for r in registry.runs.list_runs("routed") if r.run_id != first.run_id)
    assert second.status == "SUCCEEDED" and second.dataset_version
    ingest = registry.runs.get_stage(second.run_id, "ingest")
    validation = registry.runs.get_stage(second.run_id, "validation")
    assert ingest is not None and validation is not None
    assert (ingest.status, ingest.summary["backend"], ingest.summary["rows"]) == (
        "SUCCEEDED",
        "processing",
        600,
    )
    assert ingest.summary["sha256"] == second.dataset_version
    assert validation.status == "SUCCEEDED" and validation.summary["backend"] == "processing"
    job = aws.sagemaker().describe_processing_job(ProcessingJobName=ingest.summary["job_name"])
    assert job["ProcessingJobStatus"] == "Completed" and "FailureReason" not in job
    assert any("ingested" in line and "600 rows" in line for line in job_logs(job["ProcessingJobName"]))
    # The version the job made is a version like any other: its canonical copy reads back verified.
    version = registry.datasets.get_dataset_version("routed", second.dataset_version)
    assert version.rows == 600 and version.canonical.key.startswith("datasets/routed/jobs/")
    model = registry.models.find_model_version("routed", 2)
    assert model is not None and model.status == "production" and model.dataset_version == version.sha256


def test_a_failing_processing_job_fails_the_run_at_ingest_with_its_reason(
    embedded: EmbeddedStack, registry: Registry, tmp_path: Path
) -> None:
    binary = tmp_path / "broken.csv"
    binary.write_bytes(b"x1,x2,label\n" + bytes(range(256)) * 40)
    assert binary.stat().st_size >= PROCESSING_MIN_BYTES
    code, _, err = upload(binary, "broken")
    assert code != 0
    (run,) = registry.runs.list_runs("broken")
    assert (run.status, run.failed_stage) == ("FAILED", "ingest")
    assert run.error is not None and "binary" in run.error and run.error in err
    stage = registry.runs.get_stage(run.run_id, "ingest")
    assert stage is not None and stage.status == "FAILED"
    job = aws.sagemaker().describe_processing_job(ProcessingJobName=stage.summary["job_name"])
    assert (job["ProcessingJobStatus"], job["FailureReason"]) == ("Failed", ALGORITHM_ERROR)
    assert job["ExitMessage"].rstrip(".") in run.error
    (raw,) = registry.datasets.list_raw_objects("broken")
    assert raw.status == "REFUSED" and raw.reason == run.error

    # Nothing is lost and the loop still works: a good file of the same size range reaches production.
    code, out, err = upload(classification_csv(tmp_path / "good.csv", 600, 3), "broken")
    assert code == 0, err
    assert "model broken v1 promoted to production." in out.splitlines()[0]


def test_an_upload_over_the_limit_is_refused_before_it_is_read(
    embedded: EmbeddedStack, registry: Registry, tmp_path: Path
) -> None:
    huge = classification_csv(tmp_path / "huge.csv", 2_000, 4)
    assert huge.stat().st_size > MAX_UPLOAD_BYTES
    code, _, err = upload(huge, "huge")
    assert code != 0
    (run,) = registry.runs.list_runs("huge")
    assert (run.status, run.failed_stage) == ("FAILED", "ingest")
    assert (
        run.error
        == f"The file is {huge.stat().st_size} bytes; uploads are limited to {MAX_UPLOAD_BYTES} bytes."
    )
    assert err.strip().endswith(run.error)
