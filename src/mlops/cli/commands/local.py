"""``mlops local up`` (the embedded stack, in the foreground) and ``mlops local env``."""

from __future__ import annotations

import argparse
import errno
import shlex
from pathlib import Path

from mlops.cli.connection import Context
from mlops.cli.errors import EXIT_OK, CliError
from mlops.local.resources import REGION


def environment(host: str, aws_port: int) -> dict[str, str]:
    """What a shell needs to point every AWS client (and this CLI) at the embedded stack."""
    return {
        "AWS_ENDPOINT_URL": f"http://{host}:{aws_port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


def run_local_env(args: argparse.Namespace, ctx: Context) -> int:
    for key, value in environment(args.host, args.aws_port).items():
        ctx.say(f"export {key}={shlex.quote(value)}")
    return EXIT_OK


def run_local_up(args: argparse.Namespace, ctx: Context) -> int:
    from mlops.local.embedded import run

    try:
        run(
            host=args.host,
            aws_port=args.aws_port,
            api_port=args.api_port,
            state_dir=Path(args.state_dir),
            say=ctx.say,
        )
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise CliError(
                f"A port on {args.host} is already in use ({args.aws_port} or {args.api_port}): "
                "stop what holds it or pass --aws-port/--api-port."
            ) from error
        raise
    return EXIT_OK
