"""A wait that cannot succeed says so: ``upload --wait`` ends, with the reason, once ingest has failed
for good, rather than waiting out its timeout; the upload is recorded as a FAILED run.

Before: an ingest that crashed on every attempt left the raw record ACCEPTED and no run, and
``upload --wait`` waited until its timeout (15 minutes by default).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mlops.cli.errors import EXIT_FAILED
from mlops.cli.main import main
from mlops.local.embedded import EmbeddedStack
from mlops.ml.summaries import ColumnSummary
from mlops.registry import Registry
from tests.faults.conftest import assert_one_sentence, good_upload_trains
from tests.integration.test_pipeline import iris_csv


def _upload_wait(path: Path, dataset_name: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["upload", str(path), "--dataset", dataset_name, "--target", "species", "--wait", "--timeout", "600"],
        out=out,
        err=err,
    )
    return code, err.getvalue()


def test_an_ingest_failing_every_attempt_ends_the_wait_with_its_reason(
    embedded: EmbeddedStack,
    registry: Registry,
    data_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_profile(*args: object, **kwargs: object) -> dict[str, object]:
        raise OSError("No space left on device")

    monkeypatch.setattr(ColumnSummary, "profile", broken_profile)  # the fault: every ingest attempt fails
    path = tmp_path / "iris.csv"
    path.write_bytes(iris_csv())
    code, err = _upload_wait(path, "ingest-fails")
    assert code == EXIT_FAILED, err  # not the timeout's exit code
    last = err.splitlines()[-1]
    assert "failed at stage ingest" in last and "OSError: No space left on device" in last, last
    (run,) = registry.runs.list_runs("ingest-fails")
    assert run.status == "FAILED" and run.failed_stage == "ingest"
    assert_one_sentence(run.error)

    monkeypatch.undo()
    good_upload_trains(registry, data_bucket, "ingest-fails")
