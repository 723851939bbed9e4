"""Batch jobs in the metadata table, beside the registry's records (same single-table design).

Key layout (pk / sk; gsi1pk / gsi1sk):
  BATCH#<job_id>    JOB                          the job's manifest; gsi1 BATCHJOBS / <created_at>#<job_id>
  MODEL#<name>      BATCH#<version:08d>#<job_id> lineage: the jobs a model version scored
"""

from __future__ import annotations

from typing import Any

from mlops.batch.models import BatchJob
from mlops.errors import Conflict, NotFound
from mlops.registry import Registry, _load


class BatchJobs:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def _extra(self, job: BatchJob) -> dict[str, str]:
        return {
            "status": job.status,
            "gsi1pk": "BATCHJOBS",
            "gsi1sk": f"{job.created_at.isoformat()}#{job.job_id}",
        }

    def create(self, job: BatchJob) -> bool:
        """Record a new job; False when it exists already (a retried plan step keeps the first)."""
        try:
            self.registry._put(
                f"BATCH#{job.job_id}",
                "JOB",
                job,
                extra=self._extra(job),
                condition="attribute_not_exists(pk)",
            )
        except Conflict:
            return False
        self._link(job)
        return True

    def save(self, job: BatchJob) -> None:
        self.registry._put(f"BATCH#{job.job_id}", "JOB", job, extra=self._extra(job))
        self._link(job)

    def _link(self, job: BatchJob) -> None:
        if job.version is not None:
            self.registry.put_json(
                f"MODEL#{job.model}", f"BATCH#{job.version:08d}#{job.job_id}", {"job_id": job.job_id}
            )

    def find(self, job_id: str) -> BatchJob | None:
        item = self.registry._get(f"BATCH#{job_id}", "JOB")
        return None if item is None else _load(BatchJob, item)

    def get(self, job_id: str) -> BatchJob:
        job = self.find(job_id)
        if job is None:
            raise NotFound(f"No batch job '{job_id}'.")
        return job

    def recent(self, limit: int = 100) -> list[BatchJob]:
        items = self.registry._query("BATCHJOBS", "", index="gsi1", forward=False, limit=limit)
        return [_load(BatchJob, i) for i in items]

    def page(self, limit: int = 25, cursor: str | None = None) -> tuple[list[BatchJob], str | None]:
        """Newest first, one page, and the cursor of the next (the console's list)."""
        items, after = self.registry._page(
            "BATCHJOBS", "", index="gsi1", forward=False, limit=limit, cursor=cursor
        )
        return [_load(BatchJob, i) for i in items], after

    def page_for_model(
        self, model: str, limit: int = 25, cursor: str | None = None
    ) -> tuple[list[BatchJob], str | None]:
        """The jobs that scored one model, newest version first: its lineage links, then each job."""
        links, after = self.registry._page(
            f"MODEL#{model}", "BATCH#", forward=False, limit=limit, cursor=cursor
        )
        return self._jobs(links), after

    def _jobs(self, links: list[dict[str, Any]]) -> list[BatchJob]:
        found = (self.find(str(i["sk"]["S"]).split("#", 2)[2]) for i in links)
        return [job for job in found if job is not None]

    def for_version(self, model: str, version: int) -> list[BatchJob]:
        return self._jobs(list(self.registry._query(f"MODEL#{model}", f"BATCH#{version:08d}#")))
