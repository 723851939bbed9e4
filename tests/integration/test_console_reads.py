"""What the console reads with, on the embedded stack: the registry's paginated reads (in order, no
gaps, no repeats), and ``mlops console``'s start-up errors."""

from __future__ import annotations

import io
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from mlops.batch.entities import BatchJob, S3Location
from mlops.cli.main import main
from mlops.entities import DriftSummary, Run, StageRecord
from mlops.local.embedded import EmbeddedStack
from mlops.registry import Registry
from tests.factories import model_version

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_runs_page_newest_first_without_gaps(registry: Registry) -> None:
    ids = [f"paged-run-{i:02d}" for i in range(12)]
    for i, run_id in enumerate(ids):
        assert registry.runs.create_run(
            Run(run_id=run_id, dataset="paged", trigger="upload", started_at=T0 + timedelta(minutes=i))
        )
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        runs, cursor = registry.runs.page_runs(limit=5, cursor=cursor)
        assert len(runs) <= 5
        seen += [r.run_id for r in runs]
        pages += 1
        if cursor is None:
            break
    assert pages >= 3
    assert [r for r in seen if r.startswith("paged-run-")] == list(reversed(ids))
    assert len(seen) == len(set(seen))


def test_batch_jobs_page_newest_first_all_and_per_model(registry: Registry) -> None:
    jobs = registry.batch_jobs
    where = S3Location(bucket="data", key="batch/paged/")
    ids = [f"paged-job-{i:02d}" for i in range(7)]
    for i, job_id in enumerate(ids):
        job = BatchJob(
            job_id=job_id,
            model="paged-batch",
            version=i // 2 + 1,
            input=where,
            output=where,
            created_at=T0 + timedelta(minutes=i),
        )
        assert jobs.create(job)

    def every(read: Callable[[str | None], tuple[list[BatchJob], str | None]]) -> list[str]:
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page, cursor = read(cursor)
            assert len(page) <= 3
            seen += [j.job_id for j in page]
            if cursor is None:
                return seen

    everything = every(lambda cursor: jobs.page(3, cursor))
    assert [j for j in everything if j.startswith("paged-job-")] == list(reversed(ids))
    assert len(everything) == len(set(everything))
    by_model = every(lambda cursor: jobs.page_for_model("paged-batch", 3, cursor))
    assert sorted(by_model) == sorted(ids) and len(by_model) == len(ids)
    assert [jobs.get(j).version for j in by_model] == sorted((i // 2 + 1 for i in range(7)), reverse=True)


def test_model_versions_and_drift_summaries_page_newest_first(registry: Registry) -> None:
    for version in range(1, 8):
        registry.models.create_model_version(model_version("paged", version, run_id="r"))
    first, cursor = registry.models.page_model_versions("paged", limit=4)
    assert [m.version for m in first] == [7, 6, 5, 4] and cursor is not None
    rest, cursor = registry.models.page_model_versions("paged", limit=4, cursor=cursor)
    assert [m.version for m in rest] == [3, 2, 1]
    assert registry.models.model_version_counts()["paged"] == 7

    for minute in range(3):
        registry.drift.put_drift_summary(
            DriftSummary(
                model="paged",
                version=7,
                evaluated_at=T0 + timedelta(minutes=minute),
                rows=500,
                verdict="no_drift",
                drift_detected=False,
                score=0.1 * minute,
                report_uri=f"s3://b/reports/{minute}.json",
            )
        )
    latest = registry.drift.recent_drift_summaries("paged", limit=2)
    assert [s.evaluated_at for s in latest] == [T0 + timedelta(minutes=2), T0 + timedelta(minutes=1)]
    assert registry.drift.find_drift_summary("paged", T0 + timedelta(minutes=1)) == latest[1]
    assert registry.drift.find_drift_summary("paged", T0 - timedelta(days=1)) is None


def test_console_reports_a_busy_port_and_a_missing_stack(embedded: EmbeddedStack) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = io.StringIO()
        assert main(["console", "--port", str(port)], out=io.StringIO(), err=err) == 1
    assert err.getvalue() == f"Port {port} on 127.0.0.1 is in use: pass another with --port.\n"
    err = io.StringIO()
    assert main(["console", "--stack", "NoSuchStack"], out=io.StringIO(), err=err) == 1
    assert err.getvalue().startswith("Stack 'NoSuchStack' not found")


def test_partition_reads_answer_as_moto_does(registry: Registry) -> None:
    """The embedded stack's Query (one partition) returns what moto's own (whole table) returns."""
    from mlops.local import dynamodb

    for version in range(1, 5):
        registry.models.create_model_version(model_version("parts", version, run_id="r"))
    for i in range(6):
        run = Run(run_id=f"parts-{i}", dataset="parts", trigger="upload", started_at=T0 + timedelta(hours=i))
        registry.runs.create_run(run)
        registry.runs.put_stage(
            run.run_id, StageRecord(name="ingest", status="SUCCEEDED", started_at=run.started_at)
        )

    def reads() -> list[object]:
        runs, cursor = registry.runs.page_runs(limit=4)
        more, _ = registry.runs.page_runs(limit=4, cursor=cursor)
        return [
            [r.run_id for r in runs + more],
            [m.version for m in registry.models.page_model_versions("parts", limit=3)[0]],
            [m.version for m in registry.models.list_model_versions("parts")],
            registry.datasets.list_datasets(),
            registry.models.model_version_counts(),
            [s.name for s in registry.runs.run_stages("parts-5")],
        ]

    fast = reads()
    dynamodb.uninstall()
    try:
        assert reads() == fast
    finally:
        dynamodb.install()
    assert fast[1] == [4, 3, 2] and fast[5] == ["ingest"]
