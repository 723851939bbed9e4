"""The first page: every model with its production version, the latest runs, the datasets.

It reads with a handful of key lookups whatever the history holds (runs: one page of the index;
models: the index keys, then one alias per model), so it stays fast as runs accumulate.
"""

from __future__ import annotations

from mlops.console.app import Context, Page, Route, Section
from mlops.console.html import join, link, path, section, table
from mlops.console.pages.models import models_table
from mlops.console.pages.runs import run_row

RECENT_RUNS = 10


def overview(ctx: Context, _: dict[str, str]) -> Page:
    runs, _cursor = ctx.registry.runs.page_runs(RECENT_RUNS)
    datasets = ctx.registry.datasets.list_datasets()
    body = join(
        [
            section("Models", models_table(ctx)),
            section(
                "Latest runs",
                table(
                    ("Run", "Dataset", "Trigger", "Status", "Model", "Started", "Took", "Failure"),
                    [run_row(r) for r in runs],
                    f"The {RECENT_RUNS} latest runs",
                    "No runs yet: upload a CSV to start one.",
                ),
                link("/runs", "All runs and their stage timeline →"),
            ),
            section(
                "Datasets",
                join([link(path("datasets", name), name) for name in datasets], " · ")
                if datasets
                else "None yet.",
            ),
        ]
    )
    return Page("Overview", body)


SECTION = Section("Overview", "/", (Route("GET", "/", overview),))
