"""Batch scoring end to end on the embedded stack: the batch ASL (a Distributed Map over the job's work
items, with the ItemBatcher and failure tolerance the embedded stack emulates) and the real handler."""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops import aws
from mlops.batch.entities import BatchJob, BatchRequest, S3Location
from mlops.batch.submit import new_job_id, start_job
from mlops.cli.main import main
from mlops.definition import outputs as out
from mlops.entities import ModelVersion
from mlops.executions import default_execution_starter
from mlops.local.embedded import EmbeddedStack
from mlops.registry import Registry
from mlops.settings import load_settings
from mlops.storage import Storage
from tests.integration.conftest import embedded_stack, wait_for
from tests.integration.inference_fixtures import (
    CHURN_FEATURES,
    Trained,
    churn_frame,
    publish_model,
    train_churn,
)

MODEL = "churn"


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedStack]:
    with embedded_stack() as stack:
        # Small parts and batches, so small test files split into several items and batches.
        os.environ.update({"BATCH_PART_BYTES": "4096", "BATCH_ITEMS_PER_BATCH": "3"})
        load_settings.cache_clear()
        yield stack
        load_settings.cache_clear()


@pytest.fixture(scope="module")
def churn() -> Trained:
    return train_churn()


def publish(registry: Registry, model: Trained) -> ModelVersion:
    return publish_model(registry, Storage(), MODEL, model)


@pytest.fixture(scope="module")
def published(embedded: EmbeddedStack, churn: Trained) -> ModelVersion:
    return publish(Registry(embedded.stack.outputs[out.METADATA_TABLE]), churn)


def bucket(embedded: EmbeddedStack) -> str:
    return embedded.stack.outputs[out.DATA_BUCKET]


def run_job(embedded: EmbeddedStack, input_key: str, output_key: str, **request: Any) -> BatchJob:
    data = bucket(embedded)
    job = BatchRequest(
        job_id=new_job_id(MODEL),
        model=MODEL,
        input=S3Location(bucket=data, key=input_key),
        output=S3Location(bucket=data, key=output_key),
        **request,
    )
    start_job(default_execution_starter(), embedded.stack.outputs[out.BATCH_STATE_MACHINE_ARN], job)
    jobs = Registry(embedded.stack.outputs[out.METADATA_TABLE]).batch_jobs

    def ended() -> BatchJob | None:
        found = jobs.find(job.job_id)
        return found if found is not None and found.status != "RUNNING" else None

    result: BatchJob = wait_for(ended, timeout_s=180)
    return result


def put(embedded: EmbeddedStack, key: str, body: bytes) -> None:
    aws.s3().put_object(Bucket=bucket(embedded), Key=key, Body=body)


def read_csv(embedded: EmbeddedStack, uris: list[str]) -> pd.DataFrame:
    frames = []
    for uri in uris:
        key = uri.split("/", 3)[3]
        body = aws.s3().get_object(Bucket=bucket(embedded), Key=key)["Body"].read()
        frames.append(pd.read_csv(io.BytesIO(body)))
    return pd.concat(frames, ignore_index=True)


def test_csv_round_trip(embedded: EmbeddedStack, published: ModelVersion, churn: Trained) -> None:
    frame = churn_frame(rows=300, seed=11).drop(columns=["churned"])
    put(embedded, "batch/in/customers.csv", frame.to_csv(index=False).encode())
    job = run_job(embedded, "batch/in/customers.csv", "batch/out/csv/")
    assert job.status == "SUCCEEDED", job.error
    assert (job.rows_in, job.rows_out, job.rows_failed) == (300, 300, 0)
    assert job.version == published.version
    assert job.model_sha256 == published.artifacts["onnx"].sha256
    scored = read_csv(embedded, job.outputs)
    assert list(scored.columns) == [
        *frame.columns,
        "prediction",
        *(f"probability_{c}" for c in churn.signature.classes or []),
        "model_version",
    ]
    expected = churn.pipeline.predict_proba(frame[CHURN_FEATURES])
    scored = scored.set_index("customer_id").loc[frame["customer_id"]]
    probabilities = scored[["probability_no", "probability_yes"]].to_numpy()
    # A missing category is an unseen one for the ONNX graph (mlops.signature), where scikit-learn imputes.
    complete = frame["payment_method"].notna().to_numpy()
    np.testing.assert_allclose(probabilities[complete], expected[complete], atol=1e-4)
    assert (scored["model_version"] == published.version).all()


def outputs_of(embedded: EmbeddedStack, uris: list[str]) -> list[bytes]:
    return [
        aws.s3().get_object(Bucket=bucket(embedded), Key=uri.split("/", 3)[3])["Body"].read() for uri in uris
    ]


def test_a_large_csv_splits_into_ranges_and_every_row_is_scored_once(
    embedded: EmbeddedStack, published: ModelVersion
) -> None:
    frame = churn_frame(rows=1500, seed=3).drop(columns=["churned"])
    put(embedded, "batch/in/large.csv", frame.to_csv(index=False).encode())
    job = run_job(embedded, "batch/in/large.csv", "batch/out/large/")
    assert job.status == "SUCCEEDED", job.error
    assert job.parts > 5  # ~90 KB in 4 KiB ranges
    scored = read_csv(embedded, job.outputs)
    assert sorted(scored["customer_id"]) == sorted(frame["customer_id"])
    assert job.rows_in == job.rows_out == 1500


def test_bad_rows_go_to_the_errors_file_and_the_rest_is_scored(
    embedded: EmbeddedStack, published: ModelVersion
) -> None:
    frame = churn_frame(rows=50, seed=5).drop(columns=["churned"]).astype({"tenure": object})
    frame.loc[3, "tenure"] = "twelve"
    frame.loc[7, "monthly_charges"] = float("inf")
    put(embedded, "batch/in/bad.csv", frame.to_csv(index=False).encode())
    job = run_job(embedded, "batch/in/bad.csv", "batch/out/bad/")
    assert job.status == "SUCCEEDED", job.error
    assert (job.rows_in, job.rows_out, job.rows_failed) == (50, 48, 2)
    assert job.failure_reasons == {
        "'tenure' is not a number ('twelve')": 1,
        "'monthly_charges' is not finite": 1,
    }
    errors = read_csv(embedded, job.error_files)
    assert sorted(errors["customer_id"]) == ["C00003", "C00007"]
    assert set(errors["reason"]) == set(job.failure_reasons)
    scored = read_csv(embedded, job.outputs)
    assert not {"C00003", "C00007"} & set(scored["customer_id"])


def test_jsonl_round_trip(embedded: EmbeddedStack, published: ModelVersion, churn: Trained) -> None:
    frame = churn_frame(rows=120, seed=8).drop(columns=["churned"])
    body = frame.to_json(orient="records", lines=True).encode()
    put(embedded, "batch/in/customers.jsonl", body)
    job = run_job(embedded, "batch/in/customers.jsonl", "batch/out/jsonl/")
    assert job.status == "SUCCEEDED", job.error
    rows = [json.loads(line) for part in outputs_of(embedded, job.outputs) for line in part.splitlines()]
    assert sorted(r["customer_id"] for r in rows) == sorted(frame["customer_id"])
    classes = churn.signature.classes or []
    assert set(rows[0]) == {
        *frame.columns,
        "prediction",
        *(f"probability_{c}" for c in classes),
        "model_version",
    }
    assert all(r["prediction"] in classes and r["model_version"] == published.version for r in rows)


def test_jsonl_with_a_value_of_the_wrong_type_fails_that_row_only(
    embedded: EmbeddedStack, published: ModelVersion
) -> None:
    records = churn_frame(rows=20, seed=9).drop(columns=["churned"]).to_dict(orient="records")
    records[4]["tenure"] = "many"
    lines = [json.dumps(r, default=str) for r in records] + ["not json"]
    put(embedded, "batch/in/mixed.jsonl", "\n".join(lines).encode())
    job = run_job(embedded, "batch/in/mixed.jsonl", "batch/out/mixed/")
    assert (job.status, job.rows_out, job.rows_failed) == ("SUCCEEDED", 19, 2), job.error
    assert job.failure_reasons == {"'tenure' is not a number ('many')": 1, "line 21 is not a JSON object": 1}


def test_parquet_round_trip(embedded: EmbeddedStack, published: ModelVersion) -> None:
    frame = churn_frame(rows=200, seed=12).drop(columns=["churned"])
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink, row_group_size=64)
    put(embedded, "batch/in/customers.parquet", sink.getvalue())
    job = run_job(embedded, "batch/in/customers.parquet", "batch/out/parquet/")
    assert job.status == "SUCCEEDED", job.error
    table = pa.concat_tables(pq.read_table(io.BytesIO(b)) for b in outputs_of(embedded, job.outputs))
    assert table.num_rows == 200
    assert table.schema.field("tenure").type == pa.int64()  # input columns keep their types
    assert table.schema.field("model_version").type == pa.int64()


def _wrap_handler(
    embedded: EmbeddedStack, monkeypatch: pytest.MonkeyPatch, around: Callable[[dict[str, Any], Any], Any]
) -> None:
    embedded.runtime.handler("batch")
    module = embedded.runtime._modules["batch"]
    original = module.handler

    def handler(event: dict[str, Any], context: Any) -> Any:
        return around(event, lambda: original(event, context))

    monkeypatch.setattr(module, "handler", handler)


def test_100_objects_fan_out_and_every_row_is_scored_once_retries_included(
    embedded: EmbeddedStack, published: ModelVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = churn_frame(rows=2000, seed=21).drop(columns=["churned"])
    for i in range(100):
        put(
            embedded,
            f"batch/in/many/part-{i:03d}.csv",
            frame.iloc[i * 20 : (i + 1) * 20].to_csv(index=False).encode(),
        )
    failed_once: set[str] = set()
    lock = threading.Lock()

    def flaky(event: dict[str, Any], call: Callable[[], Any]) -> Any:
        # Every batch's first attempt does its work and then fails (a timeout after the writes): the
        # map's retry runs it again, and its parts must not double.
        result = call()
        if event.get("action") == "score":
            key = json.dumps([i["index"] for i in event["batch"]["Items"]])
            with lock:
                first = key not in failed_once
                failed_once.add(key)
            if first:
                raise TimeoutError("Task timed out after the batch was written")
        return result

    _wrap_handler(embedded, monkeypatch, flaky)
    job = run_job(embedded, "batch/in/many/", "batch/out/many/")
    assert job.status == "SUCCEEDED", job.error
    assert len(job.inputs) == 100 and job.parts == 100
    assert len(failed_once) == 34  # 100 items in batches of 3, each retried once
    scored = read_csv(embedded, job.outputs)
    assert len(scored) == job.rows_out == 2000
    assert scored["customer_id"].is_unique and set(scored["customer_id"]) == set(frame["customer_id"])


def test_a_part_that_keeps_failing_fails_the_job_with_a_reason(
    embedded: EmbeddedStack, published: ModelVersion
) -> None:
    put(embedded, "batch/in/broken/good.parquet", _parquet(churn_frame(rows=10, seed=1)))
    put(embedded, "batch/in/broken/torn.parquet", b"PAR1 this is not a parquet file PAR1")
    job = run_job(embedded, "batch/in/broken/", "batch/out/broken/")
    assert job.status == "FAILED"
    assert job.error == "1 of 2 parts failed after their retries."
    assert job.rows_out == 10  # the good part is kept, and counted


def _parquet(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame.drop(columns=["churned"]), preserve_index=False), sink)
    return sink.getvalue()


def test_a_job_pins_the_version_at_its_start(
    embedded: EmbeddedStack, published: ModelVersion, churn: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = Registry(embedded.stack.outputs[out.METADATA_TABLE])
    frame = churn_frame(rows=600, seed=4).drop(columns=["churned"])
    put(embedded, "batch/in/pinned.csv", frame.to_csv(index=False).encode())
    promoted: list[int] = []
    lock = threading.Lock()

    def promote_mid_job(event: dict[str, Any], call: Callable[[], Any]) -> Any:
        with lock:
            if event.get("action") == "score" and not promoted:
                promoted.append(publish(registry, churn).version)  # a promotion while the job runs
        return call()

    _wrap_handler(embedded, monkeypatch, promote_mid_job)
    job = run_job(embedded, "batch/in/pinned.csv", "batch/out/pinned/")
    assert job.status == "SUCCEEDED", job.error
    assert promoted and registry.models.get_alias(MODEL).version == promoted[0] != job.version
    assert set(read_csv(embedded, job.outputs)["model_version"]) == {job.version}
    # And a job may ask for a version that is not in production.
    older = run_job(embedded, "batch/in/pinned.csv", "batch/out/older/", version=published.version)
    assert older.version == published.version
    assert set(read_csv(embedded, older.outputs)["model_version"]) == {published.version}


def test_a_job_for_a_model_without_versions_fails_with_one_sentence(embedded: EmbeddedStack) -> None:
    put(embedded, "batch/in/any.csv", b"a,b\n1,2\n")
    data = bucket(embedded)
    request = BatchRequest(
        job_id=new_job_id("nomodel"),
        model="nomodel",
        input=S3Location(bucket=data, key="batch/in/any.csv"),
        output=S3Location(bucket=data, key="batch/out/none/"),
    )
    start_job(default_execution_starter(), embedded.stack.outputs[out.BATCH_STATE_MACHINE_ARN], request)
    jobs = Registry(embedded.stack.outputs[out.METADATA_TABLE]).batch_jobs
    job = wait_for(lambda: (j := jobs.find(request.job_id)) and j.status != "RUNNING" and j)
    assert (job.status, job.error) == ("FAILED", "No model named 'nomodel'.")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_scores_a_local_file_lists_and_shows_jobs_and_lineage_names_them(
    embedded: EmbeddedStack, published: ModelVersion, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bucket(embedded)
    source = tmp_path / "customers.csv"
    churn_frame(rows=40, seed=30).drop(columns=["churned"]).to_csv(source, index=False)
    code, stdout, stderr = cli(
        capsys,
        "batch", "score", MODEL, str(source), "--output", f"s3://{data}/batch/out/cli",
        "--version", str(published.version), "--columns", "customer_id", "--wait", "--json",
    )  # fmt: skip
    assert code == 0, stderr
    manifest = json.loads(stdout)
    assert (manifest["status"], manifest["rows_out"], manifest["version"]) == (
        "SUCCEEDED",
        40,
        published.version,
    )
    scored = read_csv(embedded, manifest["outputs"])
    assert list(scored.columns[:2]) == ["customer_id", "prediction"]  # only the columns asked for
    code, stdout, _ = cli(capsys, "batch", "list", "--json")
    rows = json.loads(stdout)
    assert code == 0 and manifest["job_id"] in {r["job_id"] for r in rows}
    assert set(rows[0]) == {
        "job_id",
        "model",
        "version",
        "status",
        "rows_in",
        "rows_out",
        "rows_failed",
        "output",
    }
    code, stdout, _ = cli(capsys, "batch", "show", manifest["job_id"])
    assert code == 0 and "40 in, 40 scored, 0 failed" in stdout
    code, stdout, _ = cli(capsys, "lineage", MODEL, str(published.version), "--json")
    assert manifest["job_id"] in {j["job_id"] for j in json.loads(stdout)["batch_jobs"]}
    # Where the job's own IAM scope does not reach, the CLI says so before starting anything.
    code, _, stderr = cli(capsys, "batch", "score", MODEL, str(source), "--output", f"s3://{data}/raw/x/")
    assert (
        code != 0
        and stderr.strip() == f"--output must be under s3://{data}/batch/, where batch jobs read and write."
    )
    code, _, stderr = cli(capsys, "batch", "show", "no-such-job")
    assert code != 0 and stderr.strip() == "No batch job 'no-such-job'."


def test_an_object_put_under_batch_model_input_starts_a_job_once(
    embedded: EmbeddedStack, published: ModelVersion
) -> None:
    body = churn_frame(rows=25, seed=31).drop(columns=["churned"]).to_csv(index=False).encode()
    put(embedded, f"batch/{MODEL}/input/nightly.csv", body)
    jobs = Registry(embedded.stack.outputs[out.METADATA_TABLE]).batch_jobs

    def finished() -> BatchJob | None:
        found = [j for j in jobs.recent() if j.trigger == "s3" and j.status != "RUNNING"]
        return found[0] if found else None

    job = wait_for(finished, timeout_s=120)
    assert job.status == "SUCCEEDED" and job.rows_out == 25
    assert job.output.key == f"batch/{MODEL}/output/{job.job_id}/"
    assert all(f"/batch/{MODEL}/output/{job.job_id}/" in uri for uri in job.outputs)
    # Its outputs, written under batch/ too, start nothing: still one job from the trigger.
    assert [j.job_id for j in jobs.recent() if j.trigger == "s3"] == [job.job_id]


def test_a_model_segment_as_long_as_s3_allows_fails_its_job_with_a_sentence(
    embedded: EmbeddedStack,
    published: ModelVersion,
) -> None:
    body = churn_frame(rows=10, seed=7).drop(columns=["churned"]).to_csv(index=False).encode()
    hostile = "m" * 990
    put(embedded, f"batch/{hostile}/input/x.csv", body)
    jobs = Registry(embedded.stack.outputs[out.METADATA_TABLE]).batch_jobs

    def ended(key: str) -> BatchJob | None:
        found = [j for j in jobs.recent() if j.input.key == key and j.status != "RUNNING"]
        return found[0] if found else None

    job = wait_for(lambda: ended(f"batch/{hostile}/input/x.csv"), timeout_s=120)
    assert job.status == "FAILED" and job.error and job.error.count(". ") == 0, job.error
    # The loop goes on: a good object still scores.
    put(embedded, f"batch/{MODEL}/input/after.csv", body)
    good = wait_for(lambda: ended(f"batch/{MODEL}/input/after.csv"), timeout_s=120)
    assert good.status == "SUCCEEDED" and good.rows_out == 10
