"""The batch jobs section's rendering without AWS: a job's row links its page, model and version,
and text from the manifest is escaped."""

from __future__ import annotations

from mlops.batch.entities import BatchJob, S3Location
from mlops.console.html import join
from mlops.console.pages.batch import code, job_row, model_version


def job(version: int | None) -> BatchJob:
    return BatchJob(
        job_id="iris-20261130-abc",
        model="a/b",
        version=version,
        status="SUCCEEDED",
        input=S3Location(bucket="data", key="batch/in/x.csv"),
        output=S3Location(bucket="data", key="batch/out/"),
        rows_in=20,
        rows_out=19,
        rows_failed=1,
    )


def test_a_row_links_the_job_the_model_and_its_version() -> None:
    row = join(job_row(job(3)), sep="|")
    assert '<a href="/batch/iris-20261130-abc">iris-20261130-abc</a>' in row
    assert '<a href="/models/a%2Fb">a/b</a>' in row
    assert '<a href="/lineage/a%2Fb/3">v3</a>' in row
    assert "|20|19|1|s3://data/batch/out/|" in row
    assert "s-succeeded" in row


def test_a_job_without_a_resolved_version_names_only_the_model() -> None:
    assert model_version(job(None)) == "a/b"
    assert "/lineage/" not in join(job_row(job(None)))
    assert model_version(job(2)) == '<a href="/lineage/a%2Fb/2">a/b v2</a>'


def test_code_escapes() -> None:
    assert code("<x>") == "<code>&lt;x&gt;</code>"
