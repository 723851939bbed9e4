"""Command logic without AWS: rollback targets, servability, config updates, upload keys, --wait, errors."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore import exceptions as aws_errors

from mlops.cli import connection as cli_stack
from mlops.cli.commands.functions import retraining_blocked, wait_for_retraining
from mlops.cli.commands.predict import error_message, read_json_input
from mlops.cli.commands.upload import configure, upload_key
from mlops.cli.commands.wait import Deadline, follow_run, report_run
from mlops.cli.connection import Context, StackOutputs
from mlops.cli.errors import CliError
from mlops.cli.main import main
from mlops.config import DatasetConfig
from mlops.deployments import NotServable, deployment_stack, rollback_target, servable
from mlops.entities import AliasEvent, ArtifactRef, ModelVersion, Run, StageRecord
from mlops.errors import NotFound
from mlops.registry import Registry
from mlops.registry.datasets import DatasetStore
from mlops.registry.models import ModelStore
from mlops.registry.runs import RunStore
from mlops.registry.table import Table
from tests.factories import model_version

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def event(
    revision: int, version: int, action: str = "promote", from_version: int | None = None
) -> AliasEvent:
    return AliasEvent(name="m", revision=revision, version=version, from_version=from_version, action=action)


def test_rollback_walks_back_through_promotions() -> None:
    history = [event(1, 1), event(2, 2, from_version=1), event(3, 3, from_version=2)]
    assert deployment_stack(history) == [1, 2, 3]
    assert rollback_target(history, current=3) == 2
    history.append(event(4, 2, "rollback", from_version=3))
    assert deployment_stack(history) == [1, 2]
    assert rollback_target(history, current=2) == 1  # not back to v3
    history.append(event(5, 1, "rollback", from_version=2))
    assert rollback_target(history, current=1) is None


def test_rollback_after_a_manual_promotion_of_an_old_version() -> None:
    history = [event(1, 1), event(2, 2, from_version=1), event(3, 1, "manual", from_version=2)]
    assert rollback_target(history, current=1) == 2


def test_rollback_without_history_trusts_the_alias() -> None:
    assert rollback_target([], current=4) is None


def model(version: int = 3, **update: object) -> ModelVersion:
    return model_version("m", version, **update)


def test_only_converted_versions_that_passed_parity_can_serve() -> None:
    onnx = {"onnx": ArtifactRef(bucket="b", key="k", sha256="0" * 64, size=1)}
    servable(model(artifacts=onnx, parity={"passed": True}))
    with pytest.raises(NotServable, match="has no ONNX artifact"):
        servable(model(status="rejected"))
    with pytest.raises(NotServable, match=r"failed the ONNX parity gate \(label agreement 0.91\)"):
        servable(model(artifacts=onnx, parity={"passed": False, "message": "label agreement 0.91."}))


class ConfigsInMemory:
    def __init__(self, config: DatasetConfig | None = None) -> None:
        self.stored = {"iris": config} if config else {}
        self.writes = 0
        self.sources: list[str] = []

    def find_config(self, dataset: str) -> DatasetConfig | None:
        return self.stored.get(dataset)

    def put_config(self, dataset: str, config: DatasetConfig, source: str = "api") -> None:
        self.stored[dataset] = config
        self.sources.append(source)
        self.writes += 1


def test_config_created_by_target_and_task() -> None:
    store = ConfigsInMemory()
    config = configure(store, "iris", "species", None)
    assert config.target == "species" and config.task == "classification" and store.writes == 1
    with pytest.raises(CliError, match="has no config yet: pass --target"):
        configure(ConfigsInMemory(), "iris", None, "regression")


def test_config_update_keeps_every_other_field() -> None:
    store = ConfigsInMemory(DatasetConfig(target="species", estimator="random_forest", seed=7))
    config = configure(store, "iris", None, "regression")
    assert (config.target, config.task, config.estimator, config.seed) == (
        "species",
        "regression",
        "random_forest",
        7,
    )
    configure(store, "iris", None, None)
    configure(store, "iris", "species", "regression")
    assert store.writes == 1  # unchanged configs are not rewritten
    with pytest.raises(CliError, match="--target must name a column"):
        configure(store, "iris", "  ", None)
    with pytest.raises(
        CliError,
        match="Invalid config for 'iris': task must be 'classification' or 'regression', not 'clustering'",
    ):
        configure(store, "iris", None, "clustering")


def test_upload_keys_are_unique_csv_names_under_raw() -> None:
    key = upload_key("iris", "/home/me/My Data (1).CSV", T0)
    assert key == "raw/iris/20250301T120000000000Z-My_Data_1_.CSV"
    assert upload_key("iris", "export.txt", T0).endswith("-export.txt.csv")
    assert upload_key("iris", "a.csv", T0) != upload_key("iris", "a.csv", T0 + timedelta(microseconds=1))


class RunsInMemory(RunStore):
    """Replays a sequence of run snapshots, one per poll, the way the pipeline writes them."""

    def __init__(self, snapshots: list[Run]) -> None:
        super().__init__(Table("in-memory"))
        self.snapshots: Iterator[Run] = iter(snapshots)
        self.last = snapshots[0]

    def get_run(self, run_id: str) -> Run:
        self.last = next(self.snapshots, self.last)
        return self.last


class ScoredModels(ModelStore):
    def find_model_version(self, name: str, version: int) -> ModelVersion | None:
        return model(version=version, metrics={"f1_macro": 0.93, "accuracy": 0.95})


class NoModels(ModelStore):
    def find_model_version(self, name: str, version: int) -> ModelVersion | None:
        return None


class OneConfig(DatasetStore):
    def __init__(self, config: DatasetConfig | None) -> None:
        super().__init__(Table("in-memory"))
        self.config = config

    def find_config(self, dataset: str) -> DatasetConfig | None:
        return self.config


def registry_of(
    runs: RunStore, config: DatasetConfig | None = None, models: type[ModelStore] = ScoredModels
) -> Registry:
    """A registry whose stores answer from memory (only the methods the CLI calls here)."""
    registry = Registry("in-memory")
    registry.runs, registry.datasets, registry.models = runs, OneConfig(config), models(registry.table)
    return registry


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def make_ctx(registry: Registry) -> tuple[Context, io.StringIO, io.StringIO, FakeClock]:
    out, err, clock = io.StringIO(), io.StringIO(), FakeClock()
    ctx = Context(out=out, err=err, sleep=clock.sleep, clock=clock, poll_interval_s=1.0)
    ctx.registry = registry
    return ctx, out, err, clock


def running(*stages: StageRecord, status: str = "RUNNING", **update: object) -> Run:
    run = Run(run_id="iris-upload-1", dataset="iris", trigger="upload", started_at=T0, stages=list(stages))
    return run.model_copy(update={"status": status, **update})


def st(name: str, status: str, seconds: float | None = None, **summary: object) -> StageRecord:
    return StageRecord(
        name=name,
        status=status,
        started_at=T0,
        duration_s=seconds,
        summary=dict(summary),
        error="The target column 'y' is missing." if status == "FAILED" else None,
    )


def test_wait_prints_each_stage_start_and_end_once_then_the_summary() -> None:
    ingest = st("ingest", "SUCCEEDED", 0.4, rows=1000, columns=4)
    snapshots = [
        running(ingest),
        running(ingest, st("validation", "RUNNING")),
        running(ingest, st("validation", "RUNNING")),
        running(
            ingest,
            st("validation", "SUCCEEDED", 0.8, passed=True),
            st("training", "SUCCEEDED", 3.0, model_version=1),
        ),
        running(
            ingest,
            st("validation", "SUCCEEDED", 0.8, passed=True),
            st("training", "SUCCEEDED", 3.0, model_version=1),
            status="SUCCEEDED",
            ended_at=T0 + timedelta(seconds=5),
            model_version=1,
            promoted=True,
            decision="First model: f1_macro 0.9300 beats the trivial baseline's 0.33.",
        ),
    ]
    ctx, out, err, _ = make_ctx(registry_of(RunsInMemory(snapshots)))
    run = follow_run(ctx, "iris-upload-1", Deadline(ctx, 60))
    assert err.getvalue().splitlines() == [
        "  ingest      SUCCEEDED    0.4s  1,000 rows, 4 columns",
        "  validation  RUNNING ...",
        "  validation  SUCCEEDED    0.8s  passed",
        "  training    SUCCEEDED    3.0s  model v1",
    ]
    assert report_run(ctx, run) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "Run iris-upload-1 succeeded in 5.0s: model iris v1 promoted to production."
    assert "decision  First model" in lines[1]
    assert "metrics   f1_macro 0.93, accuracy 0.95" in lines[2]


def test_wait_on_a_failed_run_names_the_stage_and_exits_1() -> None:
    failed = running(
        st("validation", "FAILED", 0.2),
        status="FAILED",
        failed_stage="validation",
        error="The target column 'y' is missing.",
        ended_at=T0 + timedelta(seconds=1),
    )
    ctx, out, err, _ = make_ctx(registry_of(RunsInMemory([failed])))
    assert report_run(ctx, follow_run(ctx, "iris-upload-1", Deadline(ctx, 60))) == 1
    assert err.getvalue().splitlines()[-1] == (
        "Run iris-upload-1 failed at stage validation after 1.0s: The target column 'y' is missing."
    )
    assert out.getvalue() == ""


def test_wait_gives_up_at_the_timeout_with_exit_2() -> None:
    ctx, _, _, clock = make_ctx(registry_of(RunsInMemory([running(st("training", "RUNNING"))])))
    with pytest.raises(CliError, match="still running after 5s") as caught:
        follow_run(ctx, "iris-upload-1", Deadline(ctx, 5))
    assert caught.value.exit_code == 2
    assert clock.now == 5.0  # slept up to the deadline, not past it


def test_missing_file_fails_before_any_aws_call(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upload", "/nonexistent/data.csv", "--dataset", "iris"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == "/nonexistent/data.csv does not exist or is not a file."
    assert captured.out == ""


def test_bad_dataset_name_fails_before_any_aws_call(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upload", __file__, "--dataset", "no spaces"]) == 1
    assert "must be 1-64 letters" in capsys.readouterr().err


def test_local_env_prints_exports(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "env", "--aws-port", "4570"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "export AWS_ENDPOINT_URL=http://127.0.0.1:4570",
        "export AWS_ACCESS_KEY_ID=testing",
        "export AWS_SECRET_ACCESS_KEY=testing",
        "export AWS_DEFAULT_REGION=us-east-1",
        "export AWS_REGION=us-east-1",
    ]


def test_predict_input_must_exist() -> None:
    with pytest.raises(CliError, match="does not exist"):
        read_json_input("/nonexistent.json")


def test_predict_input_json_errors(tmp_path: Path) -> None:
    path = tmp_path / "req.json"
    path.write_text('{"records": [')
    with pytest.raises(CliError, match="is not valid JSON"):
        read_json_input(str(path))
    path.write_text('{"records": [{"a": 1}]}')
    assert read_json_input(str(path)) == b'{"records": [{"a": 1}]}'


def test_api_error_messages() -> None:
    body = b'{"error": {"code": "invalid_input", "message": "Feature \'x\' is missing."}}'
    assert error_message(400, body) == "Feature 'x' is missing."
    assert error_message(400, b'{"error": "Input x has shape [2]."}') == "Input x has shape [2]."
    assert error_message(403, b'{"message": "Forbidden"}') == "Forbidden (HTTP 403)."
    assert error_message(502, b"<html>Bad gateway</html>") == "The inference API answered HTTP 502."


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            aws_errors.NoCredentialsError(),
            "No AWS credentials found: configure them, or export what `mlops local env` prints.",
        ),
        (
            aws_errors.NoRegionError(),
            "No AWS region set: set AWS_DEFAULT_REGION, or export what `mlops local env` prints.",
        ),
        (
            aws_errors.ReadTimeoutError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com/"),
            "AWS at https://dynamodb.eu-west-1.amazonaws.com did not answer in time; try again.",
        ),
        (
            aws_errors.ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "User is not authorized."}}, "Query"
            ),
            "Query failed with AccessDeniedException: User is not authorized.",
        ),
        (NotFound("No run 'x'."), "No run 'x'."),
    ],
)
def test_expected_errors_become_one_sentence(
    error: Exception, message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(stack: str) -> StackOutputs:
        raise error

    monkeypatch.setattr(cli_stack, "read_outputs", fail)
    assert main(["runs", "list"]) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", message + "\n")


class RecentRuns(RunStore):
    def __init__(self, runs: list[Run]) -> None:
        super().__init__(Table("in-memory"))
        self.recent = runs

    def list_runs(self, dataset: str | None = None, limit: int = 100) -> list[Run]:
        return self.recent


def test_drift_wait_knows_when_the_trigger_will_start_nothing() -> None:
    requested = T0 + timedelta(hours=3)
    config = DatasetConfig(target="y")  # cooldown 60 minutes
    old_upload = Run(run_id="u", dataset="d", trigger="upload", status="SUCCEEDED", started_at=T0)
    ctx, *_ = make_ctx(registry_of(RecentRuns([old_upload]), config))
    assert retraining_blocked(ctx, "d", [old_upload], requested) is None

    recent_drift = Run(
        run_id="d-drift-1",
        dataset="d",
        trigger="drift",
        status="SUCCEEDED",
        started_at=requested - timedelta(minutes=20),
    )
    blocked = retraining_blocked(ctx, "d", [recent_drift, old_upload], requested)
    assert blocked == "cooldown: drift run d-drift-1 started less than 60 minutes ago."

    in_flight = Run(
        run_id="d-manual-1", dataset="d", trigger="manual", started_at=requested - timedelta(minutes=5)
    )
    assert retraining_blocked(ctx, "d", [in_flight], requested) == "run d-manual-1 of 'd' is still in flight."


def test_drift_wait_follows_the_run_the_alarm_starts() -> None:
    requested = T0
    started = Run(
        run_id="d-drift-20250301T120010",
        dataset="d",
        trigger="drift",
        status="SUCCEEDED",
        started_at=T0 + timedelta(seconds=10),
        ended_at=T0 + timedelta(seconds=40),
        model_version=5,
        promoted=True,
    )

    class AlarmStartsARun(RecentRuns):
        polls = 0

        def list_runs(self, dataset: str | None = None, limit: int = 100) -> list[Run]:
            self.polls += 1
            return [started] if self.polls > 2 else []

        def get_run(self, run_id: str) -> Run:
            return started

    ctx, out, err, _ = make_ctx(registry_of(AlarmStartsARun([]), DatasetConfig(target="y"), NoModels))
    assert wait_for_retraining(ctx, "d", requested, timeout_s=60) == 0
    assert err.getvalue().splitlines()[:2] == [
        "Drift detected: waiting for the alarm to start retraining ...",
        "Run d-drift-20250301T120010",
    ]
    assert out.getvalue().startswith("Run d-drift-20250301T120010 succeeded in 30.0s: model d v5 promoted")


class RecordedLate(RunsInMemory):
    """The raw object names the run before ingest creates its record."""

    def __init__(self, snapshots: list[Run], missing_polls: int) -> None:
        super().__init__(snapshots)
        self.missing_polls = missing_polls

    def get_run(self, run_id: str) -> Run:
        if self.missing_polls > 0:
            self.missing_polls -= 1
            raise NotFound(f"No run '{run_id}'.")
        return super().get_run(run_id)


def test_wait_tolerates_a_run_recorded_after_it_was_named() -> None:
    done = running(status="SUCCEEDED", ended_at=T0 + timedelta(seconds=1))
    ctx, *_ = make_ctx(registry_of(RecordedLate([done], missing_polls=2)))
    assert follow_run(ctx, "iris-upload-1", Deadline(ctx, 60)).status == "SUCCEEDED"
    ctx, *_ = make_ctx(registry_of(RecordedLate([done], missing_polls=100)))
    with pytest.raises(CliError, match="was not recorded after 3s"):
        follow_run(ctx, "iris-upload-1", Deadline(ctx, 3))


def test_ctrl_c_stops_waiting_not_the_run() -> None:
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    ctx, *_ = make_ctx(registry_of(RunsInMemory([running(st("training", "RUNNING"))])))
    ctx.sleep = interrupt
    with pytest.raises(CliError, match="Stopped waiting; run iris-upload-1 goes on") as caught:
        follow_run(ctx, "iris-upload-1", Deadline(ctx, 60))
    assert caught.value.exit_code == 130
