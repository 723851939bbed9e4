"""Batch jobs and the lineage links from a model version to the jobs that scored with it."""

from __future__ import annotations

import json

from mlops.batch.entities import BatchJob
from mlops.errors import Conflict, NotFound
from mlops.registry.model_reader import model_pk
from mlops.registry.table import BY_INDEX, NEW, Item, Key, Table, attrs, doc, load, value

BATCH_JOBS = "BATCHJOBS"


def job_item(job: BatchJob) -> Item:
    return attrs(
        {
            "pk": f"BATCH#{job.job_id}",
            "sk": "JOB",
            "doc": doc(job),
            "status": job.status,
            "gsi1pk": BATCH_JOBS,
            "gsi1sk": f"{job.created_at.isoformat()}#{job.job_id}",
        }
    )


class BatchJobStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def create(self, job: BatchJob) -> bool:
        """Record a new job; False when it exists already (a retried plan step keeps the first)."""
        try:
            self.table.put(job_item(job), NEW)
        except Conflict:
            return False
        self._link(job)
        return True

    def save(self, job: BatchJob) -> None:
        self.table.put(job_item(job))
        self._link(job)

    def _link(self, job: BatchJob) -> None:
        if job.version is not None:
            sk = f"BATCH#{job.version:08d}#{job.job_id}"
            self.table.put(
                attrs({"pk": model_pk(job.model), "sk": sk, "doc": json.dumps({"job_id": job.job_id})})
            )

    def find(self, job_id: str) -> BatchJob | None:
        item = self.table.get(f"BATCH#{job_id}", "JOB")
        return None if item is None else load(BatchJob, item)

    def get(self, job_id: str) -> BatchJob:
        job = self.find(job_id)
        if job is None:
            raise NotFound(f"No batch job '{job_id}'.")
        return job

    def recent(self, limit: int = 100) -> list[BatchJob]:
        items = self.table.query(Key(BATCH_JOBS, index=BY_INDEX), forward=False, limit=limit)
        return [load(BatchJob, i) for i in items]

    def page(self, limit: int = 25, cursor: str | None = None) -> tuple[list[BatchJob], str | None]:
        """Newest first, one page, and the cursor of the next (the console's list)."""
        items, after = self.table.page(
            Key(BATCH_JOBS, index=BY_INDEX), forward=False, limit=limit, cursor=cursor
        )
        return [load(BatchJob, i) for i in items], after

    def page_for_model(
        self, model: str, limit: int = 25, cursor: str | None = None
    ) -> tuple[list[BatchJob], str | None]:
        """The jobs that scored one model, newest version first: its lineage links, then each job."""
        links, after = self.table.page(
            Key(model_pk(model), "BATCH#"), forward=False, limit=limit, cursor=cursor
        )
        return self._jobs(links), after

    def _jobs(self, links: list[Item]) -> list[BatchJob]:
        found = (self.find(str(value(i, "sk")).split("#", 2)[2]) for i in links)
        return [job for job in found if job is not None]

    def for_version(self, model: str, version: int) -> list[BatchJob]:
        return self._jobs(list(self.table.query(Key(model_pk(model), f"BATCH#{version:08d}#"))))
