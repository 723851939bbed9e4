"""The metadata adapter: every record of the stack in one DynamoDB table (single-table design).

``Registry`` composes one store per aggregate over one table layer (``mlops.registry.table``):
``datasets``, ``runs``, ``models`` (versions, alias, rollout), ``drift`` and ``batch_jobs``. Each
record type has one item builder in its store's module. Every write that could race is conditional;
a lost race raises ``Conflict``. Every read is a GetItem or a Query on a key; nothing scans.

Key layout (pk / sk; gsi1pk / gsi1sk; gsi2pk / gsi2sk):
  DS#<dataset>      CONFIG                      dataset config (current); ``revision`` attribute;
                                                gsi1 DATASETS / <dataset>
  DS#<dataset>      CONFIGREV#<revision:08d>    every config revision
  DS#<dataset>      VERDICT#<sha256>            what validation said about a dataset version
  DS#<dataset>      VER#<sha256>                dataset version; gsi1 DSVER#<dataset> / upload order
  DS#<dataset>      RAW#<bucket>/<key>@<etag>   raw object and what ingest made of it (a key past 512
                                                bytes appears as sha256:<hex of the key>)
  DS#<dataset>      LOCK                        run in flight for drift/schedule triggers
  DS#<dataset>      LASTRUN#<trigger>           the dataset's last run of a trigger (written with the run)
  RUN#<run_id>      RUN                         run; gsi1 RUNS / <started_at>#<run_id>;
                                                gsi2 DATASET#<dataset>#RUNS / <started_at>#<run_id>
  RUN#<run_id>      STAGE#<stage>               stage record
  MODEL#<name>      COUNTER                     last version number handed out
  MODEL#<name>      NAME                        the model-name index: gsi1 MODELNAMES / <name>;
                                                ``versions`` counts the stored versions
  MODEL#<name>      VER#<version:08d>           model version
  MODEL#<name>      ALIAS#production            the production alias (guarded by ``revision``)
  MODEL#<name>      ALIASLOG#<revision:08d>     alias history: the deployments
  MODEL#<name>      ROLLOUT                     the active or last rollout (guarded by ``revision``)
  MODEL#<name>      DRIFT#<evaluated_at>        drift report summaries
  MODEL#<name>      MONITOR#drift               the drift cursor: last evaluated version and time
  MODEL#<name>      BATCH#<version:08d>#<job>   lineage: the batch jobs a model version scored
  BATCH#<job_id>    JOB                         a batch job's manifest; gsi1 BATCHJOBS / <created_at>#<job_id>
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops.registry.model_reader import PRODUCTION
from mlops.registry.table import Table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["PRODUCTION", "Registry"]


class Registry:
    """The stack's metadata table, one store per aggregate."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        # Imported here: the inference function reads the model records' documents alone
        # (``mlops.registry.model_reader``), and importing this package must load neither the stores
        # nor, through their records, pydantic.
        from mlops.registry.batch_jobs import BatchJobStore
        from mlops.registry.datasets import DatasetStore
        from mlops.registry.drift import DriftStore
        from mlops.registry.models import ModelStore
        from mlops.registry.runs import RunStore

        self.table = Table(table_name, client)
        self.datasets = DatasetStore(self.table)
        self.runs = RunStore(self.table)
        self.models = ModelStore(self.table)
        self.drift = DriftStore(self.table)
        self.batch_jobs = BatchJobStore(self.table)
