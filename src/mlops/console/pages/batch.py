"""Batch jobs: the list (all, or one model's), and one job's manifest.

Reads through the registry's batch-jobs store, as ``mlops batch list|show`` do: the jobs index
(newest first) or the model's lineage links, then one GetItem per job.
"""

from __future__ import annotations

from mlops.batch.entities import BatchJob
from mlops.cli import render
from mlops.console.app import Context, Page, Route, Section
from mlops.console.html import Html, badge, fields, h, join, link, notice, pager, path, section, table, when

PAGE_SIZE = 25


def code(text: str) -> Html:
    return Html(f"<code>{h(text)}</code>")


def model_version(job: BatchJob) -> Html | str:
    """The scoring model: its version's lineage when the job resolved one, else just the model."""
    if job.version is None:
        return job.model
    return link(path("lineage", job.model, job.version), f"{job.model} v{job.version}")


def job_row(job: BatchJob) -> tuple[object, ...]:
    return (
        link(path("batch", job.job_id), job.job_id),
        link(path("models", job.model), job.model),
        link(path("lineage", job.model, job.version), f"v{job.version}") if job.version else None,
        badge(job.status),
        job.rows_in,
        job.rows_out,
        job.rows_failed,
        job.output_uri,
        when(job.created_at),
    )


def index(ctx: Context, _: dict[str, str]) -> Page:
    jobs = ctx.registry.batch_jobs
    model = ctx.optional("model")
    after = ctx.optional("after")
    if model:
        found, cursor = jobs.page_for_model(model, PAGE_SIZE, after)
    else:
        found, cursor = jobs.page(PAGE_SIZE, after)
    listing = table(
        ("Job", "Model", "Version", "Status", "Rows in", "Rows out", "Rows failed", "Output", "Started"),
        [job_row(j) for j in found],
        f"Batch jobs of {model}, newest version first" if model else "Batch jobs, newest first",
        "No batch jobs yet: `mlops batch score` starts one.",
    )
    base = path("batch", query={"model": model})
    return Page(f"Batch jobs of {model}" if model else "Batch jobs", join([listing, pager(base, cursor)]))


def show(ctx: Context, params: dict[str, str]) -> Page:
    job = ctx.registry.batch_jobs.get(params["job_id"])
    took = (job.ended_at - job.created_at).total_seconds() if job.ended_at else None
    error = notice(f"Failed: {job.error}", "error") if job.error else Html("")
    summary = fields(
        [
            ("model", model_version(job)),
            ("model sha256", code(job.model_sha256) if job.model_sha256 else None),
            ("status", badge(job.status)),
            ("trigger", job.trigger),
            ("input", f"{job.input.uri} ({render.plural(len(job.inputs), 'object')}, {job.format})"),
            ("output", job.output_uri),
            ("rows", f"{job.rows_in} in, {job.rows_out} scored, {job.rows_failed} failed"),
            ("parts", f"{job.parts} ({job.parts_failed} failed)"),
            ("started", when(job.created_at)),
            ("took", render.duration(took) if took is not None else None),
        ]
    )
    inputs = table(
        ("Object", "Format", "Bytes", "sha256"),
        [(i.uri, i.format, i.size, code(i.sha256)) for i in job.inputs],
        "The objects the job read, with their content hashes",
        "No input object recorded.",
    )
    failures = join(
        [
            table(
                ("Rows", "Reason"),
                [(n, r) for r, n in sorted(job.failure_reasons.items(), key=lambda item: -item[1])],
                f"Why {render.plural(job.rows_failed, 'row')} failed",
                "No row failed.",
            ),
            table(("Errors file",), [(uri,) for uri in job.error_files], "Where the failed rows are")
            if job.error_files
            else Html(""),
        ]
    )
    outputs = table(("Output part",), [(uri,) for uri in job.outputs], "The scored parts", "No output yet.")
    body = join(
        [
            error,
            summary,
            section("Inputs", inputs),
            section("Failed rows", failures),
            section("Outputs", outputs),
        ]
    )
    return Page(f"Batch job {job.job_id}", body)


SECTION = Section(
    "Batch jobs",
    "/batch",
    (Route("GET", "/batch", index), Route("GET", "/batch/(?P<job_id>[^/]+)", show)),
)
