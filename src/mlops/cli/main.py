"""``mlops``: argument parsing and the error edge.

Every command is a function ``(args, ctx) -> exit code``. Expected errors (unknown run or model, a
missing stack, no AWS endpoint) end here as one sentence on stderr and a non-zero exit code; only
bugs show a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from botocore import exceptions as aws_errors

from mlops import __version__
from mlops.cli.commands import (
    batch,
    console,
    datasets,
    functions,
    lineage,
    local,
    models,
    predict,
    rollouts,
    runs,
    upload,
)
from mlops.cli.commands.wait import DEFAULT_TIMEOUT_S
from mlops.cli.connection import Context
from mlops.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CliError
from mlops.definition.outputs import DEFAULT_STACK_NAME
from mlops.errors import MlopsError

PROG = "mlops"


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError("a port is at most 65535")
    return value


def build_parser() -> argparse.ArgumentParser:
    # --stack is accepted before or after the command; SUPPRESS keeps a subcommand from resetting it.
    stack_option = argparse.ArgumentParser(add_help=False)
    stack_option.add_argument(
        "--stack",
        default=argparse.SUPPRESS,
        help=f"CloudFormation stack to use (default {DEFAULT_STACK_NAME})",
    )
    json_option = argparse.ArgumentParser(add_help=False)
    json_option.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    wait_options = argparse.ArgumentParser(add_help=False)
    wait_options.add_argument(
        "--wait", action="store_true", help="block until the run ends; exit 0 only if it succeeded"
    )
    wait_options.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"seconds --wait waits before giving up with exit code 2 (default {DEFAULT_TIMEOUT_S:g})",
    )
    common = [stack_option]

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Upload datasets, follow runs, manage model versions and check drift on the MLOps stack.",
    )
    parser.add_argument(
        "--stack",
        default=DEFAULT_STACK_NAME,
        help=f"CloudFormation stack to use (default {DEFAULT_STACK_NAME})",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser(
        "upload", parents=[*common, wait_options], help="upload a CSV to raw/NAME/, which starts the pipeline"
    )
    p.add_argument("file", metavar="FILE", help="the CSV file")
    p.add_argument("--dataset", required=True, metavar="NAME", help="the dataset it trains")
    p.add_argument("--target", metavar="COL", help="target column: creates or updates the dataset's config")
    p.add_argument(
        "--task", choices=("classification", "regression"), help="the learning task (with the config)"
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="dataset config (YAML) written as a new revision before uploading; --target/--task override it",
    )
    p.set_defaults(handler=upload.run_upload)

    datasets_commands = _command_group(commands, "datasets", common, "datasets and their config")
    p = datasets_commands.add_parser("list", parents=[*common, json_option], help="datasets")
    p.set_defaults(handler=datasets.datasets_list)
    p = datasets_commands.add_parser(
        "show", parents=[*common, json_option], help="one dataset: config revision and versions"
    )
    p.add_argument("name", metavar="NAME")
    p.set_defaults(handler=datasets.datasets_show)
    p = datasets_commands.add_parser(
        "config", parents=common, help="the effective config as YAML, defaults included"
    )
    p.add_argument("name", metavar="NAME")
    p.set_defaults(handler=datasets.datasets_config)
    p = datasets_commands.add_parser(
        "configure", parents=common, help="validate a config file, print the diff, write a new revision"
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--file", required=True, metavar="FILE", help="the config (YAML)")
    p.add_argument("--dry-run", action="store_true", help="validate and print the diff only")
    p.set_defaults(handler=datasets.datasets_configure)
    p = datasets_commands.add_parser("schema", parents=common, help="the JSON Schema of the config file")
    p.set_defaults(handler=datasets.datasets_schema)

    runs_commands = _command_group(commands, "runs", common, "pipeline runs")
    p = runs_commands.add_parser("list", parents=[*common, json_option], help="runs, newest first")
    p.add_argument("--dataset", metavar="NAME", help="only this dataset's runs")
    _limit_option(p, "runs")
    p.set_defaults(handler=runs.run_list)
    p = runs_commands.add_parser("show", parents=[*common, json_option], help="one run with its stages")
    p.add_argument("run_id", metavar="RUN_ID")
    p.set_defaults(handler=runs.run_show)

    models_commands = _command_group(commands, "models", common, "model versions and the production alias")
    p = models_commands.add_parser("list", parents=[*common, json_option], help="model versions")
    p.add_argument("name", nargs="?", metavar="NAME", help="only this model's versions")
    _limit_option(p, "versions")
    p.set_defaults(handler=models.models_list)
    p = models_commands.add_parser("promote", parents=common, help="point production at a version")
    p.add_argument("name", metavar="NAME")
    p.add_argument("version", type=_positive_int, metavar="VERSION")
    p.add_argument("--reason", help="recorded in the alias history")
    p.set_defaults(handler=models.models_promote)
    p = models_commands.add_parser(
        "rollback", parents=common, help="return production to the previous version"
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--reason", help="recorded in the alias history")
    p.set_defaults(handler=models.models_rollback)
    for action, what in (("approve", "approve"), ("reject", "reject")):
        p = models_commands.add_parser(action, parents=common, help=f"{what} a pending_approval candidate")
        p.add_argument("name", metavar="NAME")
        p.add_argument("version", type=_positive_int, metavar="VERSION")
        p.add_argument("--reason", required=True, help="recorded with your AWS identity")
        p.set_defaults(handler=getattr(rollouts, f"models_{action}"))
    p = models_commands.add_parser("rollout", parents=common, help="start a canary or shadow of a version")
    p.add_argument("name", metavar="NAME")
    p.add_argument("version", type=_positive_int, metavar="VERSION")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--canary", type=rollouts.canary_steps, metavar="STEPS", help="percents, e.g. 10,50,100")
    how.add_argument(
        "--shadow",
        type=_positive_int,
        metavar="N",
        help="score N production requests (at most 5000) without answering",
    )
    p.add_argument(
        "--bake", type=rollouts.bake_duration, metavar="DURATION", help="per canary step: 30s, 10m, 1h"
    )
    p.set_defaults(handler=rollouts.models_rollout)

    rollouts_commands = _command_group(commands, "rollouts", common, "canary and shadow rollouts")
    p = rollouts_commands.add_parser(
        "show", parents=[*common, json_option], help="the active or last rollout"
    )
    p.add_argument("name", metavar="NAME")
    p.set_defaults(handler=rollouts.rollouts_show)

    p = commands.add_parser("lineage", parents=[*common, json_option], help="where a model version came from")
    p.add_argument("name", metavar="NAME")
    p.add_argument("version", type=_positive_int, metavar="VERSION")
    p.set_defaults(handler=lineage.run_lineage)

    p = commands.add_parser(
        "retrain", parents=[*common, wait_options], help="start the pipeline on the dataset's latest version"
    )
    p.add_argument("name", metavar="NAME", help="the dataset")
    p.set_defaults(handler=functions.run_retrain)

    drift_commands = _command_group(commands, "drift", common, "drift of captured traffic")
    p = drift_commands.add_parser(
        "run",
        parents=[*common, json_option, wait_options],
        help="evaluate drift now for the production model (--wait: and follow the retraining it starts)",
    )
    p.add_argument("name", metavar="NAME", help="the model")
    p.set_defaults(handler=functions.run_drift)

    p = commands.add_parser("predict", parents=common, help="call the inference API")
    p.add_argument("name", metavar="NAME", help="the model")
    p.add_argument(
        "--json-input", required=True, metavar="FILE", help="the request body (JSON); - reads stdin"
    )
    p.set_defaults(handler=predict.run_predict)

    p = commands.add_parser("console", parents=common, help="the web console on this machine")
    p.add_argument("--port", type=_port, default=8090, help="port to serve on (default 8090)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    p.add_argument("--open", action="store_true", help="open it in the default browser")
    p.set_defaults(handler=console.run_console)

    _batch_commands(commands, common, json_option, wait_options)

    local_commands = _command_group(commands, "local", [], "the embedded stack on this machine")
    p = local_commands.add_parser("up", help="serve the embedded stack in the foreground until Ctrl-C")
    _endpoint_options(p)
    p.add_argument("--api-port", type=_port, default=8080, help="inference API port (default 8080)")
    p.add_argument(
        "--state-dir", default=".mlops", help="where state is kept between restarts (default .mlops)"
    )
    p.set_defaults(handler=local.run_local_up)
    p = local_commands.add_parser("env", help="print the shell exports that target the embedded stack")
    _endpoint_options(p)
    p.set_defaults(handler=local.run_local_env)
    return parser


def _command_group(commands: Any, name: str, parents: list[argparse.ArgumentParser], help: str) -> Any:
    """A command that takes a subcommand, ``mlops NAME COMMAND``; returns where to add the subcommands."""
    group = commands.add_parser(name, parents=parents, help=help)
    return group.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)


def _batch_commands(
    commands: Any,
    common: list[argparse.ArgumentParser],
    json_option: argparse.ArgumentParser,
    wait_options: argparse.ArgumentParser,
) -> None:
    batch_commands = _command_group(commands, "batch", common, "score files in bulk")
    p = batch_commands.add_parser(
        "score",
        parents=[*common, json_option, wait_options],
        help="score a CSV, JSON Lines or Parquet file, or an S3 object or prefix, into S3",
    )
    p.add_argument("name", metavar="NAME", help="the model")
    p.add_argument(
        "input", metavar="INPUT", help="a local file (uploaded first), or an s3:// object or prefix/"
    )
    p.add_argument("--output", required=True, metavar="S3_URI", help="the output prefix, under batch/")
    p.add_argument(
        "--version", type=_positive_int, metavar="N", help="the model version (default production)"
    )
    p.add_argument(
        "--columns",
        metavar="COL,...",
        help="input columns copied into the output (default all; '' for none)",
    )
    p.set_defaults(handler=batch.run_score)
    p = batch_commands.add_parser("list", parents=[*common, json_option], help="batch jobs, newest first")
    _limit_option(p, "jobs")
    p.set_defaults(handler=batch.run_list)
    p = batch_commands.add_parser("show", parents=[*common, json_option], help="one batch job's manifest")
    p.add_argument("job_id", metavar="JOB")
    p.set_defaults(handler=batch.run_show)


def _limit_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--limit", type=_positive_int, default=100, metavar="N", help=f"at most N {what} (default 100)"
    )


def _endpoint_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    parser.add_argument("--aws-port", type=_port, default=4566, help="AWS endpoint port (default 4566)")


def _endpoint(error: Exception) -> str:
    url = str(getattr(error, "kwargs", {}).get("endpoint_url") or "")
    if not url:
        return "the configured endpoint"
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}" if rest else url


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one command; returns the exit code (the console script exits with it)."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors: argparse has printed already
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    ctx = Context(stack_name=args.stack, out=out, err=err)
    try:
        return int(args.handler(args, ctx))
    except CliError as error:
        return _fail(err, str(error), error.exit_code)
    except MlopsError as error:
        return _fail(err, str(error))
    except aws_errors.ReadTimeoutError as error:
        return _fail(err, f"AWS at {_endpoint(error)} did not answer in time; try again.")
    except aws_errors.ConnectionError as error:
        return _fail(
            err, f"Cannot reach AWS at {_endpoint(error)}: is `mlops local up` running (or the network up)?"
        )
    except (aws_errors.NoCredentialsError, aws_errors.PartialCredentialsError):
        return _fail(
            err, "No AWS credentials found: configure them, or export what `mlops local env` prints."
        )
    except aws_errors.NoRegionError:
        return _fail(
            err, "No AWS region set: set AWS_DEFAULT_REGION, or export what `mlops local env` prints."
        )
    except aws_errors.ClientError as error:
        detail = error.response.get("Error", {})
        operation = getattr(error, "operation_name", "the AWS call")
        message = str(detail.get("Message") or "").rstrip(".")
        return _fail(err, f"{operation} failed with {detail.get('Code', 'an error')}: {message}.")
    except KeyboardInterrupt:
        return _fail(err, "Interrupted.", EXIT_INTERRUPTED)


def _fail(err: TextIO, message: str, code: int = EXIT_FAILED) -> int:
    print(message, file=err, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
