"""Commands that invoke the stack's functions: ``mlops retrain`` and ``mlops drift run``."""

from __future__ import annotations

import argparse
import dataclasses
import json
from datetime import datetime, timedelta
from typing import Any

from mlops import aws
from mlops.cli import render
from mlops.cli.commands.wait import Deadline, follow_run, report_run, wait_for_run
from mlops.cli.connection import Context
from mlops.cli.errors import EXIT_OK, EXIT_TIMEOUT, CliError
from mlops.definition import description
from mlops.entities import Run, utcnow

# Clocks differ between this machine and the stack; a run this much older than the request still counts.
CLOCK_SKEW = timedelta(seconds=30)


def invoke(ctx: Context, function: str, payload: dict[str, Any]) -> Any:
    """Invoke a stack function synchronously; its error message becomes the command's error."""
    read_timeout = description.function(function).timeout_s + 30
    client = aws.blocking_client("lambda", read_timeout)
    response = client.invoke(
        FunctionName=ctx.outputs.function_name(function),
        InvocationType="RequestResponse",
        Payload=json.dumps(payload).encode(),
    )
    body = response["Payload"].read()
    try:
        document = json.loads(body) if body else None
    except ValueError as error:
        raise CliError(f"The {function} function answered something that is not JSON.") from error
    if response.get("FunctionError"):
        message = document.get("errorMessage") if isinstance(document, dict) else None
        raise CliError(str(message or f"The {function} function failed without an error message."))
    return document


def run_retrain(args: argparse.Namespace, ctx: Context) -> int:
    response = invoke(ctx, "trigger", {"dataset": args.name})
    outcomes = response.get("outcomes") if isinstance(response, dict) else None
    if not outcomes:
        raise CliError(f"The trigger function started nothing for '{args.name}'.")
    outcome = outcomes[0]
    run_id, reason = outcome.get("run_id"), outcome.get("reason") or ""
    if not outcome.get("started") or not run_id:
        raise CliError(f"No run started for '{args.name}': {reason}")
    if not args.wait:
        ctx.say(f"Run {run_id}: {reason}")
        return EXIT_OK
    ctx.note(f"Run {run_id}: {reason}")
    return wait_for_run(ctx, run_id, args.timeout)


def run_drift(args: argparse.Namespace, ctx: Context) -> int:
    requested = utcnow()
    result = invoke(ctx, "drift", {"model": args.name})
    if not isinstance(result, dict):
        raise CliError("The drift function answered something that is not a drift result.")
    ctx.say(render.to_json(result) if args.json else render_drift(result))
    if not args.wait or not result.get("drift_detected"):
        return EXIT_OK
    # stdout holds the one JSON document with --json: the run's summary goes to stderr then.
    follow_ctx = dataclasses.replace(ctx, out=ctx.err) if args.json else ctx
    return wait_for_retraining(follow_ctx, str(result.get("model") or args.name), requested, args.timeout)


def wait_for_retraining(ctx: Context, dataset: str, requested: datetime, timeout_s: float) -> int:
    """Follow the run the drift alarm starts, unless the trigger is bound to refuse one."""
    runs = ctx.registry.runs.list_runs(dataset, limit=20)
    blocked = retraining_blocked(ctx, dataset, runs, requested)
    if blocked:
        ctx.note(f"Drift detected, but no retraining will start now: {blocked}")
        return EXIT_OK
    ctx.note("Drift detected: waiting for the alarm to start retraining ...")
    deadline = Deadline(ctx, timeout_s)
    while True:
        run = next(
            (
                r
                for r in ctx.registry.runs.list_runs(dataset, limit=20)
                if r.trigger == "drift" and r.started_at >= requested - CLOCK_SKEW
            ),
            None,
        )
        if run is not None:
            ctx.note(f"Run {run.run_id}")
            return report_run(ctx, follow_run(ctx, run.run_id, deadline))
        if deadline.passed():
            raise CliError(
                f"No retraining run of '{dataset}' started within {timeout_s:g}s; "
                "check the drift alarm and the trigger function's logs.",
                EXIT_TIMEOUT,
            )
        deadline.pause()


def retraining_blocked(ctx: Context, dataset: str, runs: list[Run], requested: datetime) -> str | None:
    """Why the trigger would start nothing (a run in flight, the cooldown), as it decides it."""
    earlier = [r for r in runs if r.started_at < requested - CLOCK_SKEW]
    in_flight = next((r for r in earlier if r.status == "RUNNING"), None)
    if in_flight is not None:
        return f"run {in_flight.run_id} of '{dataset}' is still in flight."
    config = ctx.registry.datasets.find_config(dataset)
    if config is None:
        return f"dataset '{dataset}' has no config."
    cooldown = timedelta(minutes=config.retraining.cooldown_minutes)
    recent = next(
        (r for r in earlier if r.trigger in ("drift", "schedule") and requested - r.started_at < cooldown),
        None,
    )
    if recent is not None:
        return (
            f"cooldown: {recent.trigger} run {recent.run_id} started less than "
            f"{config.retraining.cooldown_minutes:g} minutes ago."
        )
    return None


def render_drift(result: dict[str, Any]) -> str:
    rows = result.get("rows")
    on = f" on {rows:,} captured rows" if isinstance(rows, int) else ""
    if result.get("drift_detected"):
        verdict = "drift detected"
    else:
        verdict = str(result.get("verdict") or "no drift").replace("_", " ")
    lines = [f"{result.get('model')} v{result.get('version')}: {verdict}{on}"]
    tests: list[tuple[str, Any]] = list((result.get("features") or {}).items())
    prediction = result.get("prediction")
    if isinstance(prediction, dict) and prediction.get("test"):
        tests.append(("(prediction)", prediction))
    table_rows = [
        (name, t.get("test"), t.get("statistic"), t.get("threshold"), t.get("drift"))
        for name, t in tests
        if isinstance(t, dict)
    ]
    if table_rows:
        table = render.table(("FEATURE", "TEST", "STATISTIC", "THRESHOLD", "DRIFT"), table_rows)
        lines.extend("  " + line for line in table.splitlines())
    if result.get("report"):
        lines.append(f"report  {result['report']}")
    return "\n".join(lines)
