"""Every command and flag of docs/cli.md parses into the handler and values the commands read."""

from __future__ import annotations

import argparse

import pytest

from mlops import __version__
from mlops.cli.commands import functions, lineage, local, models, predict, runs, upload
from mlops.cli.commands.wait import DEFAULT_TIMEOUT_S
from mlops.cli.main import build_parser, main


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_upload_defaults() -> None:
    args = parse("upload", "data.csv", "--dataset", "iris")
    assert args.handler is upload.run_upload
    assert (args.file, args.dataset, args.target, args.task) == ("data.csv", "iris", None, None)
    assert args.wait is False and args.timeout == DEFAULT_TIMEOUT_S
    assert args.stack == "MlopsStack"


def test_upload_every_flag() -> None:
    args = parse(
        "upload",
        "d.csv",
        "--dataset",
        "houses",
        "--target",
        "price",
        "--task",
        "regression",
        "--wait",
        "--timeout",
        "90",
    )
    assert (args.target, args.task, args.wait, args.timeout) == ("price", "regression", True, 90.0)


@pytest.mark.parametrize(
    "argv",
    [
        ["upload", "d.csv"],  # --dataset is required
        ["upload", "--dataset", "x"],  # FILE is required
        ["upload", "d.csv", "--dataset", "x", "--task", "clustering"],
        ["upload", "d.csv", "--dataset", "x", "--timeout", "0"],
        ["upload", "d.csv", "--dataset", "x", "--timeout", "soon"],
        ["runs"],
        ["runs", "show"],
        ["runs", "list", "--limit", "0"],
        ["models", "promote", "iris"],
        ["models", "promote", "iris", "two"],
        ["models", "promote", "iris", "0"],
        ["lineage", "iris"],
        ["drift"],
        ["predict", "iris"],  # --json-input is required
        ["local", "up", "--aws-port", "70000"],
        ["nonsense"],
        [],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "usage: mlops" in captured.err
    assert captured.out == ""


def test_runs_commands() -> None:
    args = parse("runs", "list")
    assert args.handler is runs.run_list and args.dataset is None and args.json is False and args.limit == 100
    args = parse("runs", "list", "--dataset", "iris", "--json", "--limit", "5")
    assert (args.dataset, args.json, args.limit) == ("iris", True, 5)
    args = parse("runs", "show", "iris-upload-0123", "--json")
    assert args.handler is runs.run_show and args.run_id == "iris-upload-0123" and args.json


def test_models_commands() -> None:
    args = parse("models", "list")
    assert args.handler is models.models_list and args.name is None and not args.json
    args = parse("models", "list", "iris", "--json")
    assert args.name == "iris" and args.json
    args = parse("models", "promote", "iris", "3")
    assert args.handler is models.models_promote and (args.name, args.version, args.reason) == (
        "iris",
        3,
        None,
    )
    args = parse("models", "promote", "iris", "3", "--reason", "hotfix")
    assert args.reason == "hotfix"
    args = parse("models", "rollback", "iris")
    assert args.handler is models.models_rollback and args.name == "iris"


def test_lineage_retrain_drift_predict() -> None:
    args = parse("lineage", "iris", "2", "--json")
    assert args.handler is lineage.run_lineage and (args.name, args.version, args.json) == ("iris", 2, True)
    args = parse("retrain", "iris", "--wait", "--timeout", "600")
    assert args.handler is functions.run_retrain and args.wait and args.timeout == 600.0
    assert parse("retrain", "iris").wait is False
    args = parse("drift", "run", "iris", "--json", "--wait")
    assert args.handler is functions.run_drift and args.json and args.wait
    args = parse("predict", "iris", "--json-input", "req.json")
    assert args.handler is predict.run_predict and args.json_input == "req.json"


def test_local_commands() -> None:
    args = parse("local", "up")
    assert args.handler is local.run_local_up
    assert (args.host, args.aws_port, args.api_port, args.state_dir) == ("127.0.0.1", 4566, 8080, ".mlops")
    args = parse(
        "local",
        "up",
        "--host",
        "0.0.0.0",
        "--aws-port",
        "5000",
        "--api-port",
        "9000",
        "--state-dir",
        "/tmp/s",
    )
    assert (args.host, args.aws_port, args.api_port, args.state_dir) == ("0.0.0.0", 5000, 9000, "/tmp/s")
    args = parse("local", "env", "--aws-port", "4567")
    assert args.handler is local.run_local_env and args.aws_port == 4567


def test_stack_before_or_after_the_command() -> None:
    assert parse("--stack", "Prod", "runs", "list").stack == "Prod"
    assert parse("runs", "list", "--stack", "Prod").stack == "Prod"
    assert parse("models", "rollback", "iris", "--stack", "Prod").stack == "Prod"
    assert parse("runs", "list").stack == "MlopsStack"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"mlops {__version__}"


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("upload", "runs", "models", "lineage", "retrain", "drift", "predict", "local"):
        assert command in out


def test_rollout_commands() -> None:
    from mlops.cli.commands import rollouts

    args = parse("models", "rollout", "wine", "2", "--canary", "10,50,100", "--bake", "10m")
    assert args.handler is rollouts.models_rollout
    assert (args.name, args.version, args.canary, args.bake) == ("wine", 2, [10, 50, 100], 600.0)
    defaults = parse("models", "rollout", "wine", "2")
    assert (defaults.canary, defaults.bake) == (None, None)  # the dataset config's
    args = parse("models", "approve", "wine", "3", "--reason", "checked")
    assert args.handler is rollouts.models_approve and args.reason == "checked"
    assert parse("models", "reject", "wine", "3", "--reason", "no").handler is rollouts.models_reject
    args = parse("rollouts", "show", "wine", "--json")
    assert args.handler is rollouts.rollouts_show and args.json


@pytest.mark.parametrize(
    "argv",
    [
        ["models", "approve", "wine", "3"],  # --reason is required
        ["models", "reject", "wine", "3"],
        ["models", "rollout", "wine", "2", "--canary", "50,10,100"],  # must rise
        ["models", "rollout", "wine", "2", "--canary", "10,50"],  # must end at 100
        ["models", "rollout", "wine", "2", "--canary", "ten"],
        ["models", "rollout", "wine", "2", "--bake", "soon"],
        ["models", "rollout", "wine", "2", "--bake", "0s"],
        ["rollouts", "show"],
    ],
)
def test_rollout_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse(*argv)
