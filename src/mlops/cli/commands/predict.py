"""``mlops predict NAME --json-input FILE``: one call to the inference API."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlops.cli import render
from mlops.cli.connection import Context
from mlops.cli.errors import EXIT_OK, CliError

TIMEOUT_S = 60.0


def read_json_input(source: str) -> bytes:
    """The request body, checked to be JSON before it travels; ``-`` reads stdin."""
    if source == "-":
        data = sys.stdin.buffer.read()
        label = "standard input"
    else:
        path = Path(source)
        if not path.is_file():
            raise CliError(f"{path} does not exist or is not a file.")
        data = path.read_bytes()
        label = str(path)
    try:
        json.loads(data)
    except ValueError as error:
        raise CliError(f"{label} is not valid JSON: {error}.") from error
    return data


def api_key(ctx: Context) -> str | None:
    """The deployed API's key (its id is a stack output); the embedded stack needs none."""
    key_id = ctx.outputs.api_key_id
    if key_id is None:
        return None
    value = ctx.client("apigateway").get_api_key(apiKey=key_id, includeValue=True).get("value")
    return str(value) if value else None


def error_message(status: int, body: bytes) -> str:
    """The API's one-sentence message: ``{"error": {"message"}}``, ``{"error": "..."}`` or ``{"message"}``."""
    try:
        document: Any = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
        if document.get("message"):
            return f"{document['message']} (HTTP {status})."
    return f"The inference API answered HTTP {status}."


def post(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as error:
        raise CliError(error_message(error.code, error.read())) from error
    except urllib.error.URLError as error:
        raise CliError(
            f"Cannot reach the inference API at {url} ({error.reason}); is it deployed or `mlops local up` running?"
        ) from error
    except TimeoutError as error:
        raise CliError(f"The inference API at {url} did not answer within {TIMEOUT_S:g}s.") from error


def run_predict(args: argparse.Namespace, ctx: Context) -> int:
    body = read_json_input(args.json_input)
    base = ctx.outputs.api_url
    if base is None:
        raise CliError(f"Stack '{ctx.stack_name}' has no inference API (no ApiUrl output).")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    key = api_key(ctx)
    if key:
        headers["x-api-key"] = key
    answer = post(f"{base.rstrip('/')}/models/{quote(args.name, safe='')}/predict", body, headers)
    try:
        ctx.say(render.to_json(json.loads(answer)))
    except ValueError as error:
        raise CliError("The inference API answered something that is not JSON.") from error
    return EXIT_OK
