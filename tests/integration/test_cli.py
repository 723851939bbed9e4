"""The ``mlops`` CLI against the embedded stack in moto, called in-process.

The read and alias commands run on records written directly through the Registry (fast, independent
of training); the upload tests send generated CSVs through the whole pipeline.
"""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops import aws
from mlops.cli.commands.local import environment
from mlops.cli.main import main
from mlops.config import DatasetConfig
from mlops.definition.outputs import API_URL
from mlops.deployments import move
from mlops.entities import (
    ArtifactRef,
    DatasetVersion,
    DriftSummary,
    RawObjectRef,
    Run,
    StageRecord,
)
from mlops.errors import Conflict
from mlops.local.embedded import EmbeddedStack
from mlops.local.http_api import make_api_server
from mlops.registry import Registry
from tests.factories import model_version
from tests.integration.conftest import Outcome, run_cli
from tests.servers import serving

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
SHA = "5e" * 32


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def artifact(name: str, key: str) -> ArtifactRef:
    return ArtifactRef(bucket="mlops-artifacts", key=key, sha256=f"{name:0<64}"[:64], size=2048)


def seed(registry: Registry, name: str) -> None:
    """A dataset with one version, three runs and four model versions; production moved v1 -> v2."""
    registry.datasets.put_config(name, DatasetConfig(target="label"))
    raw = RawObjectRef(bucket="mlops-data", key=f"raw/{name}/a.csv", etag="e7a9", version_id="v-1", size=4096)
    registry.datasets.create_dataset_version(
        DatasetVersion(
            dataset=name,
            sha256=SHA,
            rows=300,
            columns=["x1", "x2", "label"],
            column_types={"x1": "float", "x2": "float", "label": "string"},
            profile={},
            canonical=artifact("c", f"datasets/{name}/{SHA}/data.parquet"),
            raw=raw,
            uploaded_at=T0,
        )
    )
    stages = [
        StageRecord(
            name="ingest",
            status="SUCCEEDED",
            started_at=T0,
            duration_s=0.4,
            summary={"rows": 300, "columns": 3},
        ),
        StageRecord(
            name="validation",
            status="SUCCEEDED",
            started_at=T0 + timedelta(seconds=1),
            duration_s=0.6,
            summary={
                "passed": True,
                "report": f"s3://mlops-artifacts/reports/validation/{name}/{name}-r1.json",
                "report_sha256": "9" * 64,
                "rows": 300,
                "warnings": 1,
                "failures": 0,
                "checks": [
                    {"rule": "missing", "column": "x2", "status": "warn", "message": "x2 is 12% missing."}
                ],
            },
        ),
        StageRecord(
            name="training",
            status="SUCCEEDED",
            started_at=T0 + timedelta(seconds=2),
            duration_s=3.0,
            summary={"model_version": 1, "backend": "inline", "metrics": {"f1_macro": 0.91}},
        ),
    ]
    runs = [
        Run(
            run_id=f"{name}-r1",
            dataset=name,
            trigger="upload",
            status="SUCCEEDED",
            dataset_version=SHA,
            started_at=T0,
            ended_at=T0 + timedelta(seconds=9),
            model_version=1,
            promoted=True,
            decision="First model: f1_macro 0.9100 beats the trivial baseline's 0.5.",
        ),
        Run(
            run_id=f"{name}-r2",
            dataset=name,
            trigger="manual",
            status="SUCCEEDED",
            dataset_version=SHA,
            started_at=T0 + timedelta(hours=1),
            ended_at=T0 + timedelta(hours=1, seconds=8),
            model_version=2,
            promoted=True,
        ),
        Run(
            run_id=f"{name}-r3",
            dataset=name,
            trigger="schedule",
            status="FAILED",
            dataset_version=SHA,
            started_at=T0 + timedelta(hours=2),
            ended_at=T0 + timedelta(hours=2, seconds=2),
            failed_stage="validation",
            error="Column 'x2' is 80% missing, above the limit of 50%.",
        ),
    ]
    for run in runs:
        registry.runs.create_run(run)
    for stage in stages:
        registry.runs.put_stage(f"{name}-r1", stage)
    onnx = {
        "onnx": artifact("a1", f"models/{name}/v1/model.onnx"),
        "sklearn": artifact("b1", f"models/{name}/v1/model.joblib"),
    }
    versions = [
        model_version(
            name,
            1,
            metrics={"f1_macro": 0.91},
            dataset_version=SHA,
            artifacts=onnx,
            parity={"passed": True},
            created_at=T0,
        ),
        model_version(
            name,
            2,
            metrics={"f1_macro": 0.93},
            dataset_version=SHA,
            artifacts=onnx,
            parity={"passed": True},
            created_at=T0 + timedelta(hours=1),
        ),
        model_version(
            name,
            3,
            status="rejected",
            dataset_version=SHA,
            decision_reason="conversion: unsupported estimator.",
            created_at=T0 + timedelta(hours=2),
        ),
        model_version(
            name,
            4,
            status="rejected",
            dataset_version=SHA,
            run_id=f"{name}-r3",
            artifacts=onnx,
            parity={"passed": False, "message": "Labels agree on 91% of rows, below 99.9%."},
            created_at=T0 + timedelta(hours=3),
        ),
    ]
    for version in versions:
        registry.models.create_model_version(version)
    first = registry.models.move_alias(name, 1, None, "promote", f"{name}-r1", "First model.")
    registry.models.move_alias(name, 2, first, "promote", f"{name}-r2", "Better.")
    registry.drift.put_drift_summary(
        DriftSummary(
            model=name,
            version=1,
            evaluated_at=T0 + timedelta(minutes=30),
            rows=500,
            verdict="drift",
            drift_detected=True,
            score=0.5,
            drifted_features=["x2"],
            report_uri=f"s3://mlops-artifacts/reports/drift/{name}/1.json",
        )
    )


@pytest.fixture(scope="module")
def seeded(registry: Registry) -> str:
    seed(registry, "seeded")
    return "seeded"


def test_runs_list_json_is_newest_first_with_the_contract_fields(
    seeded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "runs", "list", "--dataset", seeded, "--json")
    assert (code, err) == (0, "")
    runs = json.loads(out)
    assert [r["run_id"] for r in runs] == [f"{seeded}-r3", f"{seeded}-r2", f"{seeded}-r1"]
    assert set(runs[0]) == {
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
    }
    assert runs[0]["status"] == "FAILED" and runs[0]["failed_stage"] == "validation"
    assert runs[2]["trigger"] == "upload" and runs[2]["model_version"] == 1 and runs[2]["promoted"] is True


def test_runs_list_table(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "runs", "list", "--dataset", seeded)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["RUN", "DATASET", "TRIGGER", "STATUS"]
    assert lines[1].startswith(f"{seeded}-r3") and "Column 'x2' is 80% missing" in lines[1]
    code, out, _ = cli(capsys, "runs", "list", "--dataset", "never-uploaded")
    assert (code, out.strip()) == (0, "No runs yet.")


def test_runs_show(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "runs", "show", f"{seeded}-r1", "--json")
    assert code == 0
    run = json.loads(out)
    assert [s["name"] for s in run["stages"]] == ["ingest", "validation", "training"]
    assert run["validation"]["report"].endswith(f"{seeded}-r1.json")
    assert run["decision"].startswith("First model") and run["duration_s"] == 9.0
    code, out, _ = cli(capsys, "runs", "show", f"{seeded}-r1")
    assert code == 0
    assert "ingest      SUCCEEDED" in out and "300 rows, 3 columns" in out
    assert "warn  missing [x2]: x2 is 12% missing." in out


def test_unknown_run_is_one_sentence_without_traceback(
    seeded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "runs", "show", "no-such-run")
    assert (code, out, err) == (1, "", "No run 'no-such-run'.\n")
    code, out, err = cli(capsys, "runs", "show", "no-such-run", "--json")
    assert (code, out) == (1, "")


def test_models_list(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "models", "list", seeded, "--json")
    assert code == 0
    models = json.loads(out)
    assert [(m["version"], m["status"]) for m in models] == [
        (4, "rejected"),
        (3, "rejected"),
        (2, "production"),
        (1, "archived"),
    ]
    assert set(models[0]) == {"name", "version", "status", "metrics", "dataset_version", "created_at"}
    code, out, _ = cli(capsys, "models", "list")
    assert code == 0 and out.splitlines()[0].split() == [
        "NAME",
        "VERSION",
        "STATUS",
        "METRICS",
        "DATASET_VERSION",
        "CREATED",
    ]
    assert any(line.split()[:3] == [seeded, "2", "production"] for line in out.splitlines())
    code, out, err = cli(capsys, "models", "list", "no-such-model")
    assert (code, out, err) == (1, "", "No model named 'no-such-model'.\n")


def test_promote_refuses_versions_that_cannot_serve(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "models", "promote", seeded, "3")
    assert code == 1 and "has no ONNX artifact" in err
    code, _, err = cli(capsys, "models", "promote", seeded, "4")
    assert code == 1 and "failed the ONNX parity gate (Labels agree on 91% of rows, below 99.9%)" in err
    code, _, err = cli(capsys, "models", "promote", seeded, "9")
    assert (code, err) == (1, f"Model '{seeded}' has no version 9.\n")
    code, out, _ = cli(capsys, "models", "promote", seeded, "2")
    assert code == 0 and "already the production version" in out


def test_promote_then_rollback(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    name = "alias-moves"
    seed(registry, name)  # production: v1 -> v2
    code, out, _ = cli(capsys, "models", "promote", name, "1", "--reason", "v2 misbehaves")
    assert (code, out.strip()) == (0, f"Production of '{name}' moved from v2 to v1.")
    alias = registry.models.get_alias(name)
    assert alias is not None and alias.version == 1 and alias.action == "manual"
    assert registry.models.alias_history(name)[-1].reason == "v2 misbehaves"

    code, out, _ = cli(capsys, "models", "rollback", name)
    assert (code, out.strip()) == (0, f"Rolled back '{name}' production from v1 to v2.")
    code, out, _ = cli(capsys, "models", "rollback", name)
    assert (code, out.strip()) == (0, f"Rolled back '{name}' production from v2 to v1.")
    code, _, err = cli(capsys, "models", "rollback", name)
    assert (code, err) == (1, f"'{name}' has no earlier production version than v1 to roll back to.\n")
    assert [m.status for m in registry.models.list_model_versions(name)][:2] == ["production", "archived"]

    code, _, err = cli(capsys, "models", "rollback", "no-such-model")
    assert (code, err) == (1, "No model named 'no-such-model'.\n")


def test_a_concurrent_alias_move_is_reported(seeded: str, registry: Registry) -> None:
    stale = registry.models.get_alias(seeded)
    assert stale is not None
    moved = registry.models.move_alias(seeded, 1, stale, "manual", reason="someone else")
    with pytest.raises(Conflict, match="moved concurrently; try again"):
        move(registry, seeded, 2, stale, "manual", "late")
    registry.models.move_alias(seeded, 2, moved, "manual", reason="restore the seed")


def test_lineage(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "lineage", seeded, "1", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["raw_object"] == {
        "bucket": "mlops-data",
        "key": f"raw/{seeded}/a.csv",
        "etag": "e7a9",
        "version_id": "v-1",
        "size": 4096,
        "sequencer": None,
        "uri": f"s3://mlops-data/raw/{seeded}/a.csv",
    }
    assert doc["dataset_version"]["sha256"] == SHA and doc["dataset_version"]["rows"] == 300
    assert doc["validation_report"]["uri"].endswith(f"{seeded}-r1.json")
    assert doc["validation_report"]["summary"]["warnings"] == 1
    assert doc["run"]["run_id"] == f"{seeded}-r1" and doc["run"]["stages"]["training"] == 3.0
    assert set(doc["artifacts"]) == {"onnx", "sklearn"} and len(doc["artifacts"]["onnx"]["sha256"]) == 64
    assert [(d["from_version"], d["version"]) for d in doc["deployments"]][:2] == [(None, 1), (1, 2)]
    assert [r["verdict"] for r in doc["drift_reports"]] == ["drift"]

    code, out, _ = cli(capsys, "lineage", seeded, "1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{seeded} v1  archived"
    assert lines[2] == f"└─ raw object  s3://mlops-data/raw/{seeded}/a.csv"
    for expected in (
        "dataset version",
        "validation report",
        f"run  {seeded}-r1",
        "artifacts",
        "deployments",
        "drift reports",
    ):
        assert any(expected in line for line in lines), expected
    code, _, err = cli(capsys, "lineage", seeded, "42")
    assert (code, err) == (1, f"Model '{seeded}' has no version 42.\n")


def test_missing_stack(embedded: EmbeddedStack, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "--stack", "NoSuchStack", "runs", "list")
    assert code == 1 and out == ""
    assert err == (
        "Stack 'NoSuchStack' not found in AWS region us-east-1: deploy it, pass the right --stack, "
        "or export what `mlops local env` prints to use the embedded stack.\n"
    )


# ---- the whole pipeline ------------------------------------------------------------------------


def classification_csv(path: Path, rows: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
    colour = rng.choice(["red", "green", "blue"], size=rows)
    label = np.where(x1 + 0.5 * x2 + (colour == "red") > 0.3, "yes", "no")
    buffer = io.StringIO()
    pd.DataFrame({"x1": x1.round(4), "x2": x2.round(4), "colour": colour, "label": label}).to_csv(
        buffer, index=False
    )
    path.write_text(buffer.getvalue())
    return path


def test_upload_needs_a_config_or_target(
    embedded: EmbeddedStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = classification_csv(tmp_path / "d.csv", 60, 0)
    code, out, err = cli(capsys, "upload", str(data), "--dataset", "unconfigured")
    assert (code, out) == (1, "")
    assert (
        err == "Dataset 'unconfigured' has no config yet: pass --target COLUMN (and --task) to create it.\n"
    )


@pytest.fixture(scope="module")
def churn_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return classification_csv(tmp_path_factory.mktemp("churn") / "churn.csv", 300, 1)


@pytest.fixture(scope="module")
def churn_upload(embedded: EmbeddedStack, churn_csv: Path) -> Outcome:
    """The first upload of 'churn', waited for: the tests below share the model it trains."""
    return run_cli(
        "upload", str(churn_csv), "--dataset", "churn", "--target", "label", "--wait", "--timeout", "300"
    )


def test_upload_wait_runs_the_pipeline(churn_upload: Outcome, registry: Registry) -> None:
    assert churn_upload.code == 0, churn_upload.err
    for stage in ("ingest", "validation", "training", "conversion", "promotion"):
        assert f"  {stage:<11} SUCCEEDED" in churn_upload.err, churn_upload.err
    assert "300 rows, 4 columns" in churn_upload.err
    assert "model churn v1 promoted to production." in churn_upload.out.splitlines()[0]
    assert "decision" in churn_upload.out and "metrics" in churn_upload.out
    config = registry.datasets.get_config("churn")
    assert (config.target, config.task) == ("label", "classification")


def test_a_corrupt_line_past_the_first_block_fails_the_upload_and_production_stays(
    embedded: EmbeddedStack, churn_csv: Path, registry: Registry, data_bucket: str, tmp_path: Path
) -> None:
    """A file past one streamed block (8 MiB) whose last line has a field too many."""
    first = run_cli("upload", str(churn_csv), "--dataset", "corrupt", "--target", "label", "--wait")
    assert first.code == 0, first.err
    production = registry.models.get_production("corrupt")
    rows = 400_000
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=rows).round(4),
            "x2": rng.normal(size=rows).round(4),
            "colour": rng.choice(["red", "green"], rows),
            "label": rng.choice(["a", "b"], rows),
        }
    )
    corrupt = tmp_path / "corrupt.csv"
    corrupt.write_text(frame.to_csv(index=False) + "1,2,red,a,extra\n")
    assert corrupt.stat().st_size > 8 * 1024**2
    outcome = run_cli("upload", str(corrupt), "--dataset", "corrupt", "--wait", "--timeout", "300")
    assert outcome.code == 1, outcome.err
    assert outcome.err.splitlines()[-1].endswith(
        f"failed at stage ingest after 0.0s: The file is not a well-formed CSV: line {rows + 2} has 5 "
        "fields where the header has 4."
    ), outcome.err
    after = registry.models.get_production("corrupt")
    assert production is not None and after is not None and after.version == production.version
    s3 = aws.s3()
    assert s3.list_multipart_uploads(Bucket=data_bucket, Prefix="datasets/corrupt/").get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=data_bucket, Prefix="datasets/corrupt/staging/")["KeyCount"] == 0


def test_identical_content_trains_nothing(churn_upload: Outcome, churn_csv: Path, registry: Registry) -> None:
    again = run_cli("upload", str(churn_csv), "--dataset", "churn", "--wait", "--timeout", "120")
    assert again.code == 0, again.err
    assert "identical" in again.out and "no training started" in again.out
    assert [r.trigger for r in registry.runs.list_runs("churn")].count("upload") == 1


def test_retrain_wait_trains_a_new_version(churn_upload: Outcome, registry: Registry) -> None:
    before = {m.version for m in registry.models.list_model_versions("churn")}
    retrained = run_cli("retrain", "churn", "--wait", "--timeout", "300")
    assert retrained.code == 0, retrained.err
    after = {m.version for m in registry.models.list_model_versions("churn")}
    (new,) = after - before
    assert f"model churn v{new}" in retrained.out
    runs = json.loads(run_cli("runs", "list", "--dataset", "churn", "--json").out)
    assert runs[0]["trigger"] == "manual" and runs[0]["model_version"] == new


@pytest.fixture(scope="module")
def api_stack(embedded: EmbeddedStack) -> Iterator[str]:
    """The local inference API on a free port, published as a second stack's ApiUrl output."""
    with serving(make_api_server("127.0.0.1", 0, embedded.invoke_inference)) as url:
        outputs = {**embedded.stack.outputs, API_URL: url}
        template = {
            "Resources": {"Holder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {key: {"Value": value} for key, value in outputs.items()},
        }
        aws.client("cloudformation").create_stack(StackName="CliApiStack", TemplateBody=json.dumps(template))
        yield "CliApiStack"


def test_predict(churn_upload: Outcome, api_stack: str, churn_csv: Path, tmp_path: Path) -> None:
    rows = pd.read_csv(churn_csv).drop(columns=["label"]).head(3)
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"records": rows.to_dict(orient="records")}))
    answer = run_cli("--stack", api_stack, "predict", "churn", "--json-input", str(request))
    assert answer.code == 0, answer.err
    body = json.loads(answer.out)
    assert body["model"] == "churn" and len(body["predictions"]) == 3
    assert set(body["predictions"]) <= {"yes", "no"} and len(body["probabilities"][0]) == 2

    request.write_text(json.dumps({"records": [{"x1": 1.0}]}))
    refused = run_cli("--stack", api_stack, "predict", "churn", "--json-input", str(request))
    assert refused.code == 1 and refused.out == ""
    assert len(refused.err.strip().splitlines()) == 1 and "x2" in refused.err

    unknown = run_cli("--stack", api_stack, "predict", "no-such-model", "--json-input", str(request))
    assert unknown.code == 1 and "no-such-model" in unknown.err

    no_api = run_cli("predict", "churn", "--json-input", str(request))
    assert (no_api.code, no_api.err) == (1, "Stack 'MlopsStack' has no inference API (no ApiUrl output).\n")


def test_bad_uploads_fail_with_the_reason(
    embedded: EmbeddedStack, registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("x1,x2,label\n")
    code, out, err = cli(
        capsys, "upload", str(empty), "--dataset", "broken", "--target", "label", "--wait", "--timeout", "120"
    )
    assert (code, out) == (1, "")
    assert err.splitlines()[-1].endswith(
        "failed at stage ingest after 0.0s: The file has a header but no data rows."
    )

    too_few = classification_csv(tmp_path / "small.csv", 12, 2)  # validation wants 50 rows by default
    code, out, err = cli(capsys, "upload", str(too_few), "--dataset", "broken", "--wait", "--timeout", "120")
    assert code == 1 and out == ""
    assert "  validation  FAILED" in err
    assert "failed at stage validation" in err.splitlines()[-1]


def test_retrain_unknown_dataset(embedded: EmbeddedStack, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "retrain", "nothing-here")
    assert (code, out) == (1, "")
    assert err.strip() == "Dataset 'nothing-here' has no config: upload with --target COLUMN to create one."


def test_drift_run(churn_upload: Outcome) -> None:
    result = run_cli("drift", "run", "churn", "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert {"model", "version", "rows", "drift_detected", "features", "prediction", "report"} <= set(document)
    assert document["model"] == "churn" and isinstance(document["drift_detected"], bool)
    text = run_cli("drift", "run", "churn")
    assert text.code == 0 and text.out.startswith(f"churn v{document['version']}: ")

    unknown = run_cli("drift", "run", "no-such-model")
    assert unknown.code == 1 and unknown.out == ""
    assert len(unknown.err.strip().splitlines()) == 1 and "no-such-model" in unknown.err


# A real TCP connection refused by a closed port: the network, so not the unit tier.
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_unreachable_endpoint_is_one_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    for key, value in environment("127.0.0.1", port).items():
        monkeypatch.setenv(key, value)
    aws.reset_clients()
    try:
        assert main(["runs", "list"]) == 1
    finally:
        aws.reset_clients()
    captured = capsys.readouterr()
    assert (
        captured.err.strip()
        == f"Cannot reach AWS at http://127.0.0.1:{port}: is `mlops local up` running (or the network up)?"
    )
    assert "Traceback" not in captured.err and captured.out == ""
