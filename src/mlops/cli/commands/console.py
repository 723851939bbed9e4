"""``mlops console``: the web console on this machine, over the stack the CLI talks to."""

from __future__ import annotations

import argparse
import errno
import webbrowser

from mlops.cli.connection import Context
from mlops.cli.errors import EXIT_OK, CliError
from mlops.console.app import Sources
from mlops.console.server import base_url, make_console_server
from mlops.console.site import build_console
from mlops.storage import Storage


def stack_endpoint(ctx: Context) -> str:
    """Where the stack is, in words: the embedded stack's URL or the AWS region."""
    client = ctx.client("cloudformation")
    url = str(client.meta.endpoint_url)
    return f"AWS region {client.meta.region_name}" if "amazonaws.com" in url else url


def run_console(args: argparse.Namespace, ctx: Context) -> int:
    # ctx.registry reads the stack's outputs: a missing stack fails here, before the server starts.
    sources = Sources(ctx.registry, Storage(), ctx.stack_name, stack_endpoint(ctx))
    console = build_console(sources)
    try:
        server = make_console_server(console, args.host, args.port)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise CliError(f"Port {args.port} on {args.host} is in use: pass another with --port.") from error
        raise
    console.warm_up()
    url = base_url(server)
    ctx.say(f"Console at {url} (stack {ctx.stack_name} at {sources.endpoint}); Ctrl-C stops it.")
    if args.open:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        ctx.note("Stopped.")
    finally:
        server.server_close()
    return EXIT_OK
