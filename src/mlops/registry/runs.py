"""Runs and their stage records."""

from __future__ import annotations

import json
from datetime import datetime

from mlops.entities import Run, RunStatus, StageRecord, Trigger
from mlops.errors import Conflict, NotFound
from mlops.registry.datasets import dataset_pk
from mlops.registry.table import (
    BY_DATASET,
    BY_INDEX,
    NEW,
    Condition,
    Item,
    Key,
    Table,
    attrs,
    doc,
    iso,
    load,
    value,
)

RUNS = "RUNS"


def run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def dataset_runs_pk(dataset: str) -> str:
    return f"DATASET#{dataset}#RUNS"


def run_order(run: Run) -> str:
    return f"{iso(run.started_at)}#{run.run_id}"


def run_item(run: Run) -> Item:
    """A run's item (its stages are items of their own): in every run's index and its dataset's."""
    order = run_order(run)
    return attrs(
        {
            "pk": run_pk(run.run_id),
            "sk": "RUN",
            "doc": doc(run.model_copy(update={"stages": []})),
            "status": run.status,
            "dataset": run.dataset,
            "gsi1pk": RUNS,
            "gsi1sk": order,
            "gsi2pk": dataset_runs_pk(run.dataset),
            "gsi2sk": order,
        }
    )


def last_run_item(run: Run) -> Item:
    """The dataset's last run of one trigger, so the schedule tick reads one item, not the run history."""
    marker = {"run_id": run.run_id, "started_at": iso(run.started_at)}
    return attrs(
        {"pk": dataset_pk(run.dataset), "sk": f"LASTRUN#{run.trigger}", "doc": json.dumps(marker), **marker}
    )


class RunStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def create_run(self, run: Run) -> bool:
        """Store a new run, and make it its dataset's last run of its trigger (one transaction);
        False when the run id exists (a redelivered trigger)."""
        try:
            self.table.transact(
                [self.table.put_request(run_item(run), NEW), self.table.put_request(last_run_item(run))],
                conflict=f"Run '{run.run_id}' exists already.",
            )
            return True
        except Conflict:
            return False

    def last_run_started(self, dataset: str, trigger: Trigger) -> datetime | None:
        """When the dataset's last run of ``trigger`` started (one GetItem, however many runs exist)."""
        item = self.table.get(dataset_pk(dataset), f"LASTRUN#{trigger}")
        return None if item is None else datetime.fromisoformat(str(value(item, "started_at")))

    def save_run(self, run: Run, expect_status: RunStatus | None = "RUNNING") -> None:
        """Overwrite a run's record; by default only while it is still RUNNING (a finished run stays)."""
        condition = (
            Condition("#s = :expected", {":expected": expect_status}, {"#s": "status"})
            if expect_status
            else None
        )
        self.table.put(run_item(run), condition, conflict=f"Run '{run.run_id}' has already ended.")

    def get_run(self, run_id: str) -> Run:
        item = self.table.get(run_pk(run_id), "RUN")
        if item is None:
            raise NotFound(f"No run '{run_id}'.")
        return load(Run, item).model_copy(update={"stages": self.run_stages(run_id)})

    def list_runs(self, dataset: str | None = None, limit: int = 100) -> list[Run]:
        """Newest first: one Query of the dataset's runs (or of every run), reading at most ``limit``."""
        key = Key(dataset_runs_pk(dataset), index=BY_DATASET) if dataset else Key(RUNS, index=BY_INDEX)
        return [load(Run, i) for i in self.table.query(key, forward=False, limit=limit)]

    def page_runs(self, limit: int = 50, cursor: str | None = None) -> tuple[list[Run], str | None]:
        """Newest first, one page (without their stages: ``run_stages`` reads those)."""
        items, after = self.table.page(Key(RUNS, index=BY_INDEX), forward=False, limit=limit, cursor=cursor)
        return [load(Run, i) for i in items], after

    def run_stages(self, run_id: str) -> list[StageRecord]:
        stages = [load(StageRecord, i) for i in self.table.query(Key(run_pk(run_id), "STAGE#"))]
        return sorted(stages, key=lambda s: s.started_at)

    def put_stage(self, run_id: str, stage: StageRecord) -> None:
        self.table.put(attrs({"pk": run_pk(run_id), "sk": f"STAGE#{stage.name}", "doc": doc(stage)}))

    def get_stage(self, run_id: str, name: str) -> StageRecord | None:
        item = self.table.get(run_pk(run_id), f"STAGE#{name}")
        return None if item is None else load(StageRecord, item)
