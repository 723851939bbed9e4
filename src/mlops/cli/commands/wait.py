"""``--wait``: follow what an upload or a trigger started until its run ends, stage by stage."""

from __future__ import annotations

from mlops.cli import render
from mlops.cli.connection import Context
from mlops.cli.describe import check_lines, run_duration, stage_line
from mlops.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TIMEOUT, CliError
from mlops.entities import RawObject, Run
from mlops.errors import NotFound

DEFAULT_TIMEOUT_S = 1800.0


class Deadline:
    def __init__(self, ctx: Context, timeout_s: float) -> None:
        self.ctx = ctx
        self.timeout_s = timeout_s
        self.at = ctx.clock() + timeout_s

    def passed(self) -> bool:
        return self.ctx.clock() >= self.at

    def pause(self) -> None:
        self.ctx.sleep(max(0.0, min(self.ctx.poll_interval_s, self.at - self.ctx.clock())))


def wait_for_raw_object(
    ctx: Context, dataset: str, bucket: str, key: str, etag: str, deadline: Deadline
) -> RawObject:
    """Poll until ingest has decided about the object: a run started, a duplicate, or a refusal (after
    its last retry, an ingest that keeps failing is one)."""
    noted = 0
    while True:
        record = ctx.registry.datasets.get_raw_object(dataset, bucket, key, etag)
        if record is not None and (record.run_id or record.status != "ACCEPTED"):
            return record
        if record is not None and record.attempts > noted:
            noted = record.attempts
            ctx.note(f"{record.last_error} Retrying (attempt {noted + 1}).")
        if deadline.passed():
            raise CliError(
                f"Ingest did not pick up s3://{bucket}/{key} within {deadline.timeout_s:g}s; "
                "check the ingest function's logs.",
                EXIT_TIMEOUT,
            )
        deadline.pause()


def follow_run(ctx: Context, run_id: str, deadline: Deadline) -> Run:
    """Print each stage as it starts and ends (stderr); return the run once it has ended.

    Ctrl-C stops the waiting, not the run.
    """
    try:
        return _follow(ctx, run_id, deadline)
    except KeyboardInterrupt:
        raise CliError(
            f"Stopped waiting; run {run_id} goes on: follow it with `mlops runs show {run_id}`.",
            EXIT_INTERRUPTED,
        ) from None


def _follow(ctx: Context, run_id: str, deadline: Deadline) -> Run:
    shown: dict[str, str] = {}
    while True:
        try:
            run = ctx.registry.runs.get_run(run_id)
        except NotFound:
            # Ingest names the run on the raw object a moment before it creates the run record.
            run = None
        if run is not None:
            for stage in run.stages:
                if shown.get(stage.name) != stage.status:
                    ctx.note(stage_line(stage))
                    shown[stage.name] = stage.status
                    if stage.name == "validation" and stage.status != "RUNNING":
                        # What validation did about the data (columns left out, rows dropped) is
                        # what a user adjusts the config for.
                        for line in check_lines(stage.summary, indent="      ", statuses=("warn",)):
                            ctx.note(line)
            if run.status != "RUNNING":
                return run
        if deadline.passed():
            state = "is still running" if run is not None else "was not recorded"
            raise CliError(
                f"Run {run_id} {state} after {deadline.timeout_s:g}s; follow it with `mlops runs show {run_id}`.",
                EXIT_TIMEOUT,
            )
        deadline.pause()


def report_run(ctx: Context, run: Run) -> int:
    """The final summary of a followed run; exit 0 only when it succeeded."""
    took = render.duration(run_duration(run))
    if run.status != "SUCCEEDED":
        stage = run.failed_stage or "unknown"
        verb = "was aborted" if run.status == "ABORTED" else "failed"
        ctx.note(
            f"Run {run.run_id} {verb} at stage {stage} after {took}: {run.error or 'no error recorded.'}"
        )
        return EXIT_FAILED
    if run.model_version is None:
        ctx.say(f"Run {run.run_id} succeeded in {took} without producing a model.")
        return EXIT_OK
    verdict = "promoted to production" if run.promoted else "not promoted"
    ctx.say(f"Run {run.run_id} succeeded in {took}: model {run.dataset} v{run.model_version} {verdict}.")
    model = ctx.registry.models.find_model_version(run.dataset, run.model_version)
    details = render.fields(
        [
            ("decision", run.decision),
            ("metrics", render.metrics(model.metrics, limit=6) if model and model.metrics else None),
        ]
    )
    if details:
        ctx.say(details)
    return EXIT_OK


def wait_for_run(ctx: Context, run_id: str, timeout_s: float) -> int:
    run = follow_run(ctx, run_id, Deadline(ctx, timeout_s))
    return report_run(ctx, run)
