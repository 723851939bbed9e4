"""Dataset config as code and the loop users follow, through the CLI on the embedded stack.

Upload, read the warnings, adjust the config, retrain: each test reproduces what a user did and what
went wrong before (a rejected upload poisoning the dataset, a changed target failing at promotion,
identical bytes under a fixed config training nothing, an S3-only user unable to configure).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_iris

from mlops import aws
from mlops.entities import RawObject
from mlops.local.embedded import EmbeddedStack
from mlops.registry import Registry
from tests.integration.conftest import run_cli, wait_for, wait_for_run


def iris() -> pd.DataFrame:
    data = load_iris(as_frame=True)
    frame = data.frame.drop(columns=["target"])
    frame["species"] = [str(data.target_names[i]) for i in data.target]
    return frame


def write(path: Path, frame: pd.DataFrame, **options: object) -> Path:
    frame.to_csv(path, index=False, **options)  # type: ignore[call-overload]
    return path


def test_a_rejected_upload_does_not_poison_the_dataset(
    embedded: EmbeddedStack, registry: Registry, tmp_path: Path
) -> None:
    good = write(tmp_path / "good.csv", iris())
    first = run_cli("upload", str(good), "--dataset", "loop", "--target", "species", "--wait")
    assert first.code == 0, first.err
    accepted = registry.datasets.latest_dataset_version("loop")
    assert accepted is not None

    # A file that breaks production's inputs (a feature column gone) fails, as it should...
    broken = write(tmp_path / "broken.csv", iris().drop(columns=["petal width (cm)"]))
    refused = run_cli("upload", str(broken), "--dataset", "loop", "--wait")
    assert refused.code == 1
    assert (
        "Column 'petal width (cm)' is missing; the last accepted version of the dataset has it."
        in refused.err
    )

    # ...and leaves nothing behind: retraining trains the accepted version,
    retrained = run_cli("retrain", "loop", "--wait")
    assert retrained.code == 0, retrained.err
    manual = next(r for r in registry.runs.list_runs("loop") if r.trigger == "manual")
    assert manual.dataset_version == accepted.sha256
    # and the next good file is compared with the accepted version, not the rejected one.
    shuffled = write(tmp_path / "shuffled.csv", iris().sample(frac=1.0, random_state=3))
    later = run_cli("upload", str(shuffled), "--dataset", "loop", "--wait")
    assert later.code == 0, later.err

    shown = json.loads(run_cli("datasets", "show", "loop", "--json").out)
    assert [v["status"] for v in shown["versions"]] == ["accepted", "rejected", "accepted"]
    assert "petal width (cm)" in shown["versions"][1]["reason"]


def test_changed_target_on_identical_bytes_trains_a_new_model_line(
    embedded: EmbeddedStack, registry: Registry, tmp_path: Path
) -> None:
    data = write(tmp_path / "iris.csv", iris())
    first = run_cli("upload", str(data), "--dataset", "line", "--target", "species", "--wait")
    assert first.code == 0, first.err
    # The target was wrong: the same file again under the fixed config trains again (it answered
    # "identical content, no training" and left no model before), and promotion does not compare a
    # regression on petal length with a species classifier.
    again = run_cli(
        "upload",
        str(data),
        "--dataset",
        "line",
        "--target",
        "petal length (cm)",
        "--task",
        "regression",
        "--wait",
    )
    assert again.code == 0, again.err
    assert "model line v2 promoted to production." in again.out
    production = registry.models.get_production("line")
    assert production is not None and production.version == 2 and production.task == "regression"
    run = registry.runs.get_run(production.run_id)
    assert run.decision is not None
    assert run.decision.startswith("New model line: the target changed from 'species' to 'petal length (cm)'")
    # Unchanged config: identical bytes train nothing.
    same = run_cli("upload", str(data), "--dataset", "line", "--wait")
    assert same.code == 0 and "no training started" in same.out


def test_config_file_round_trip_and_a_bad_config_changes_nothing(
    embedded: EmbeddedStack, registry: Registry, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("target: species\n")
    created = run_cli("datasets", "configure", "cfg", "--file", str(path))
    assert created.code == 0, created.err
    assert "+target: species" in created.out and "Wrote config revision 1 of 'cfg'." in created.err

    printed = run_cli("datasets", "config", "cfg")
    assert printed.code == 0 and printed.out.startswith("# dataset cfg, config revision 1 (cli)\n")
    document = yaml.safe_load(printed.out)
    assert document["validation"]["feature_missing"] == {"severity": "warn", "max_ratio": 0.5}
    path.write_text(printed.out)
    unchanged = run_cli("datasets", "configure", "cfg", "--file", str(path))
    assert unchanged.code == 0 and unchanged.out == ""
    assert "No change: 'cfg' stays at config revision 1." in unchanged.err

    document["validation"]["duplicate_rows"]["severity"] = "fail"
    path.write_text(yaml.safe_dump(document))
    dry = run_cli("datasets", "configure", "cfg", "--file", str(path), "--dry-run")
    assert "-    severity: warn\n+    severity: fail" in dry.out and "Dry run" in dry.err
    assert registry.datasets.current_config("cfg").revision == 1  # type: ignore[union-attr]

    document["validation"]["duplicate_rows"]["severity"] = "drop"
    path.write_text(yaml.safe_dump(document))
    bad = run_cli("datasets", "configure", "cfg", "--file", str(path))
    assert bad.code == 1 and bad.out == ""
    assert bad.err == (
        f"{path}: validation.duplicate_rows.severity must be 'fail', 'warn' or 'off', not 'drop'.\n"
    )
    path.write_text("target: species\nvalidation:\n  max_dupes: 0.1\n")
    unknown = run_cli("datasets", "configure", "cfg", "--file", str(path))
    assert unknown.code == 1 and "validation.max_dupes is not a config field" in unknown.err
    path.write_text("target: [species\n")
    broken = run_cli("datasets", "configure", "cfg", "--file", str(path))
    assert broken.code == 1 and "is not valid YAML at line" in broken.err
    assert registry.datasets.current_config("cfg").revision == 1  # type: ignore[union-attr]

    schema = json.loads(run_cli("datasets", "schema").out)
    assert schema["required"] == ["target"] and "validation" in schema["properties"]
    listed = json.loads(run_cli("datasets", "list", "--json").out)
    assert {"name": "cfg", "config_revision": 1}.items() <= next(
        d for d in listed if d["name"] == "cfg"
    ).items()


def test_retrain_after_a_config_change_uses_it_and_lineage_shows_the_revision(
    embedded: EmbeddedStack, registry: Registry, tmp_path: Path
) -> None:
    data = write(tmp_path / "iris.csv", iris())
    config = tmp_path / "config.yaml"
    config.write_text("target: species\nestimator: logistic_regression\n")
    first = run_cli("upload", str(data), "--dataset", "tuned", "--config", str(config), "--wait")
    assert first.code == 0, first.err
    config.write_text("target: species\nestimator: random_forest\nparams:\n  n_estimators: 20\n")
    assert run_cli("datasets", "configure", "tuned", "--file", str(config)).code == 0
    retrained = run_cli("retrain", "tuned", "--wait")
    assert retrained.code == 0, retrained.err
    latest = max(registry.models.list_model_versions("tuned"), key=lambda m: m.version)
    assert latest.params["estimator"] == "random_forest" and latest.params["n_estimators"] == 20
    # A forest's conversion also stores its bulk graph, which passed the same parity gate.
    assert {"onnx", "onnx_bulk"} <= set(latest.artifacts) and latest.parity and latest.parity["passed"]
    assert not any(key.startswith("onnx_bulk") for key in first_version_artifacts(registry, "tuned"))
    lineage = json.loads(run_cli("lineage", "tuned", str(latest.version), "--json").out)
    assert lineage["config"]["revision"] == 2 and lineage["config"]["source"] == "cli"
    assert lineage["run"]["config_revision"] == 2
    assert "config revision  2" in run_cli("lineage", "tuned", str(latest.version)).out


def loan_table(rows: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    income = rng.normal(50_000, 12_000, rows).round(2)
    debt = rng.uniform(0, 40_000, rows).round(2)
    joint = np.where(rng.random(rows) < 0.85, np.nan, rng.normal(90_000, 20_000, rows).round(2))
    default = np.where(debt / income + rng.normal(0, 0.1, rows) > 0.4, "yes", "no").astype(object)
    default[rng.random(rows) < 0.2] = None  # unlabelled rows
    return pd.DataFrame({"income": income, "debt": debt, "joint_income": joint, "default": default})


def test_real_world_table_trains_with_warnings_shown(
    embedded: EmbeddedStack, registry: Registry, tmp_path: Path
) -> None:
    data = write(tmp_path / "loans.csv", loan_table())
    done = run_cli("upload", str(data), "--dataset", "loans", "--target", "default", "--wait")
    assert done.code == 0, done.err
    assert "warn  feature_missing [joint_income]: Column 'joint_income' is missing in" in done.err
    assert "it is left out of the features." in done.err
    assert (
        "warn  target_missing [default]:" in done.err and "those rows are dropped for training." in done.err
    )
    production = registry.models.get_production("loans")
    assert production is not None and production.signature is not None
    assert [f.name for f in production.signature.features] == ["income", "debt"]
    run = registry.runs.get_run(production.run_id)
    shown = run_cli("runs", "show", run.run_id).out
    assert "feature_missing [joint_income]" in shown and "config     revision 1" in shown


def raw_record(registry: Registry, dataset: str, bucket: str, key: str, etag: str) -> RawObject:
    def settled() -> RawObject | None:
        record = registry.datasets.get_raw_object(dataset, bucket, key, etag)
        done = record is not None and (record.reason or record.run_id or record.status != "ACCEPTED")
        return record if done else None

    found: RawObject = wait_for(settled)
    return found


def test_a_config_object_beside_the_data_configures_the_dataset(
    embedded: EmbeddedStack, registry: Registry, data_bucket: str
) -> None:
    s3 = aws.s3()
    key = "raw/s3only/mlops.yaml"
    put = s3.put_object(Bucket=data_bucket, Key=key, Body=b"target: species\nestimator: random_forest\n")
    applied = raw_record(registry, "s3only", data_bucket, key, put["ETag"].strip('"'))
    assert applied.kind == "config" and applied.status == "ACCEPTED" and applied.config_revision == 1
    current = registry.datasets.current_config("s3only")
    assert current is not None and current.source == "s3" and current.config.estimator == "random_forest"
    assert registry.runs.list_runs("s3only") == []  # the YAML is not trained as a CSV

    buffer = io.StringIO()
    iris().to_csv(buffer, index=False)
    data = s3.put_object(Bucket=data_bucket, Key="raw/s3only/iris.csv", Body=buffer.getvalue().encode())
    record = raw_record(registry, "s3only", data_bucket, "raw/s3only/iris.csv", data["ETag"].strip('"'))
    assert record.run_id is not None
    run = wait_for_run(registry, record.run_id)
    assert run.status == "SUCCEEDED" and run.config_revision == 1, run.error

    bad = s3.put_object(Bucket=data_bucket, Key=key, Body=b"target: species\ntask: clustering\n")
    refused = raw_record(registry, "s3only", data_bucket, key, bad["ETag"].strip('"'))
    assert refused.status == "REFUSED"
    assert refused.reason == (
        f"s3://{data_bucket}/{key}: task must be 'classification' or 'regression', not 'clustering'."
    )
    assert registry.datasets.current_config("s3only").revision == 1  # type: ignore[union-attr]
    shown = run_cli("datasets", "show", "s3only")
    assert "refused: " in shown.out and "not 'clustering'" in shown.out
    # While the object beside the data is invalid, a CSV upload fails with its reason.
    again = s3.put_object(Bucket=data_bucket, Key="raw/s3only/more.csv", Body=buffer.getvalue().encode())
    failed = raw_record(registry, "s3only", data_bucket, "raw/s3only/more.csv", again["ETag"].strip('"'))
    assert failed.status == "REFUSED" and "config object" in (failed.reason or "")


@pytest.mark.parametrize("decimal", [","])
def test_a_semicolon_decimal_comma_export_trains_on_numbers(
    embedded: EmbeddedStack, registry: Registry, tmp_path: Path, decimal: str
) -> None:
    data = write(tmp_path / "eu.csv", iris(), sep=";", decimal=decimal)
    done = run_cli("upload", str(data), "--dataset", "eu", "--target", "species", "--wait")
    assert done.code == 0, done.err
    assert "decimal commas" in done.err
    production = registry.models.get_production("eu")
    assert production is not None and production.signature is not None
    assert {f.kind for f in production.signature.features} == {"numeric"}


def first_version_artifacts(registry: Registry, name: str) -> list[str]:
    """The artifact names of a model's first version (a linear model's: no bulk graph)."""
    return list(min(registry.models.list_model_versions(name), key=lambda m: m.version).artifacts)
