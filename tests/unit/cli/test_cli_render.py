"""Plain-text rendering: tables, numbers, durations, trees, and the one-line stage descriptions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from mlops.cli import render
from mlops.cli.commands.functions import render_drift
from mlops.cli.commands.runs import render_show, run_row, show_document
from mlops.cli.describe import run_outcome, stage_highlight, stage_line
from mlops.entities import Run, StageRecord

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def stage(name: str, status: str = "SUCCEEDED", seconds: float = 1.25, **summary: object) -> StageRecord:
    ended = None if status == "RUNNING" else T0 + timedelta(seconds=seconds)
    return StageRecord(
        name=name,
        status=status,
        started_at=T0,
        ended_at=ended,
        duration_s=None if status == "RUNNING" else seconds,
        summary=dict(summary),
        error="Column 'age' is 80% missing." if status == "FAILED" else None,
    )


def test_table_aligns_columns_and_marks_missing_values() -> None:
    text = render.table(("A", "LONGER"), [("x", None), ("yyyy", True)])
    assert text.splitlines() == ["A     LONGER", "x     -", "yyyy  yes"]
    assert render.table(("A",), [], empty="No runs yet.") == "No runs yet."


def test_numbers_and_durations() -> None:
    assert render.number(0.95) == "0.95"
    assert render.number(0.123456) == "0.1235"
    assert render.number(3.0) == "3"
    assert render.number(0.00001234) == "1.234e-05"
    assert render.number(float("nan")) == "nan"
    assert render.number(float("inf")) == "inf"
    assert render.duration(0.42) == "0.4s"
    assert render.duration(125) == "2m05s"
    assert render.duration(3720) == "1h02m"
    assert render.duration(None) == "-"
    assert render.size(512) == "512 B" and render.size(2048) == "2.0 KB"
    assert render.metrics({"f1_macro": 0.9412, "accuracy": 0.95, "a": 1, "b": 2}, limit=2) == (
        "f1_macro 0.9412, accuracy 0.95, ..."
    )


def test_to_json_writes_datetimes_as_iso() -> None:
    assert json.loads(render.to_json({"at": T0})) == {"at": "2025-03-01T12:00:00+00:00"}


def test_tree_draws_branches() -> None:
    root = render.Node("iris v2")
    raw = root.add("raw object  s3://b/raw/iris/a.csv", ["etag abc"])
    raw.add("dataset version  iris 0123", ["150 rows"])
    root.add("other")
    assert render.tree(root).splitlines() == [
        "iris v2",
        "├─ raw object  s3://b/raw/iris/a.csv",
        "│  │  etag abc",
        "│  └─ dataset version  iris 0123",
        "│        150 rows",
        "└─ other",
    ]


def test_stage_lines_say_what_each_stage_found() -> None:
    assert stage_line(stage("validation", "RUNNING")) == "  validation  RUNNING ..."
    assert (
        stage_line(stage("ingest", rows=1000, columns=5))
        == "  ingest      SUCCEEDED    1.2s  1,000 rows, 5 columns"
    )
    assert stage_highlight(
        stage("validation", passed=True, warnings=2, failures=0, excluded_columns=["id"])
    ) == ("passed, 2 warnings, excluded id")
    assert stage_highlight(
        stage("training", model_version=3, backend="inline", metrics={"f1_macro": 0.9})
    ) == ("model v3 (inline), f1_macro 0.9")
    assert (
        stage_highlight(stage("conversion", onnx_bytes=4096, parity={"passed": True}))
        == "ONNX 4.0 KB, parity passed"
    )
    assert (
        stage_highlight(stage("promotion", promoted=False, compared_with=2))
        == "not promoted, vs production v2"
    )
    failed = stage_line(stage("validation", "FAILED", 0.5))
    assert failed == "  validation  FAILED       0.5s  Column 'age' is 80% missing."


def sample_run() -> Run:
    return Run(
        run_id="iris-upload-0123456789abcdef",
        dataset="iris",
        trigger="upload",
        status="SUCCEEDED",
        dataset_version="0123456789abcdef" * 4,
        started_at=T0,
        ended_at=T0 + timedelta(seconds=12.5),
        model_version=2,
        promoted=True,
        decision="f1_macro 0.9412 vs production v1's 0.9301 (tolerance 0.01).",
        stages=[
            stage("ingest", rows=150, columns=5),
            stage(
                "validation",
                passed=True,
                report="s3://art/reports/validation/iris/r.json",
                warnings=1,
                failures=0,
                rows=150,
                checks=[
                    {"rule": "min_rows", "status": "pass", "message": "150 rows."},
                    {"rule": "missing", "column": "age", "status": "warn", "message": "age is 20% missing."},
                ],
            ),
        ],
    )


def test_runs_list_row_has_exactly_the_contract_fields() -> None:
    row = run_row(sample_run())
    assert list(row) == [
        "run_id",
        "dataset",
        "trigger",
        "status",
        "failed_stage",
        "error",
        "model_version",
        "promoted",
        "started_at",
        "ended_at",
    ]
    assert row["started_at"] == "2025-03-01T12:00:00Z"


def test_runs_show_document_and_text() -> None:
    run = sample_run()
    document = show_document(run)
    assert document["duration_s"] == 12.5
    assert [s["name"] for s in document["stages"]] == ["ingest", "validation"]
    assert document["stages"][0]["highlights"] == "150 rows, 5 columns"
    assert document["validation"]["report"] == "s3://art/reports/validation/iris/r.json"
    assert document["decision"].startswith("f1_macro")
    text = render_show(run)
    assert "Run iris-upload-0123456789abcdef" in text
    assert "v2 (promoted)" in text
    assert "warn  missing [age]: age is 20% missing." in text
    assert "min_rows" not in text  # passing checks stay in the report
    assert run_outcome(run) == "model v2 promoted"


def test_drift_text() -> None:
    result = {
        "model": "iris",
        "version": 2,
        "rows": 1500,
        "drift_detected": True,
        "features": {
            "petal_length": {"test": "psi", "statistic": 0.41, "threshold": 0.2, "drift": True},
            "sepal_width": {"test": "ks", "statistic": 0.03, "threshold": 0.1, "drift": False},
        },
        "prediction": {"test": "js", "statistic": 0.2, "threshold": 0.1, "drift": True},
        "report": "s3://art/reports/drift/iris/x.json",
    }
    lines = render_drift(result).splitlines()
    assert lines[0] == "iris v2: drift detected on 1,500 captured rows"
    assert lines[1].split() == ["FEATURE", "TEST", "STATISTIC", "THRESHOLD", "DRIFT"]
    assert lines[2].split() == ["petal_length", "psi", "0.41", "0.2", "yes"]
    assert lines[4].split() == ["(prediction)", "js", "0.2", "0.1", "yes"]
    assert lines[-1] == "report  s3://art/reports/drift/iris/x.json"
    quiet = render_drift(
        {"model": "iris", "version": 2, "rows": 10, "drift_detected": False, "verdict": "insufficient_data"}
    )
    assert quiet == "iris v2: insufficient data on 10 captured rows"
