"""The metadata adapter: every record of the stack in one DynamoDB table (single-table design).

Items carry their keys, the few attributes conditions and indexes need, and ``doc``: the record as
JSON (no float/Decimal conversions, one schema in ``mlops.models``). Every write that could race is
conditional; a lost race raises ``Conflict``.

Key layout (pk / sk; gsi1pk / gsi1sk):
  DS#<dataset>      CONFIG                      dataset config
  DS#<dataset>      VER#<sha256>                dataset version; gsi1 DSVER#<dataset> / upload order
  DS#<dataset>      RAW#<bucket>/<key>@<etag>   raw object and what ingest made of it
  DS#<dataset>      LOCK                        run in flight for drift/schedule triggers
  RUN#<run_id>      RUN                         run; gsi1 RUNS / <started_at>#<run_id>
  RUN#<run_id>      STAGE#<stage>               stage record
  MODEL#<name>      COUNTER                     last version number handed out
  MODEL#<name>      VER#<version:08d>           model version; gsi1 MODELS / <name>#<version:08d>
  MODEL#<name>      ALIAS#production            the production alias (guarded by ``revision``)
  MODEL#<name>      ALIASLOG#<revision:08d>     alias history: the deployments
  MODEL#<name>      DRIFT#<evaluated_at>        drift report summaries
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError
from pydantic import BaseModel

from mlops import aws
from mlops.config import DatasetConfig
from mlops.dynamodb_types import TypeDeserializer, TypeSerializer
from mlops.errors import ConfigError, Conflict, NotFound
from mlops.models import (
    Alias,
    AliasEvent,
    DatasetVersion,
    DriftSummary,
    ModelStatus,
    ModelVersion,
    RawObject,
    Run,
    RunStatus,
    StageRecord,
    utcnow,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

M = TypeVar("M", bound=BaseModel)
PRODUCTION = "production"

_ser = TypeSerializer()
_de = TypeDeserializer()


def _iso(value: datetime) -> str:
    return value.isoformat()


def _doc(model: BaseModel) -> str:
    return model.model_dump_json()


def _load(cls: type[M], item: dict[str, Any]) -> M:
    return cls.model_validate_json(_de.deserialize(item["doc"]))


def _attrs(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in values.items() if v is not None}


def _version_order(version: DatasetVersion) -> str:
    """Upload order: S3's LastModified (one-second resolution), then the event sequencer (which orders
    writes to the same key), then when ingest saw it."""
    sequencer = (version.raw.sequencer or "").rjust(32, "0")
    return f"{_iso(version.uploaded_at)}#{sequencer}#{_iso(version.created_at)}"


def _conditional_failed(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons", [])
        return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons) or not reasons
    return False


class Registry:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table = table_name
        self._client = client

    @property
    def db(self) -> DynamoDBClient:
        return self._client or aws.dynamodb()

    # ---- low-level helpers ----------------------------------------------------------------

    def _get(self, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        out = self.db.get_item(
            TableName=self.table, Key=_attrs({"pk": pk, "sk": sk}), ConsistentRead=consistent
        )
        return out.get("Item")

    def _put(
        self,
        pk: str,
        sk: str,
        record: BaseModel,
        extra: dict[str, Any] | None = None,
        condition: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> None:
        item = _attrs({"pk": pk, "sk": sk, "doc": _doc(record), **(extra or {})})
        kwargs: dict[str, Any] = {"TableName": self.table, "Item": item}
        if condition:
            kwargs["ConditionExpression"] = condition
        if values:
            kwargs["ExpressionAttributeValues"] = _attrs(values)
        try:
            self.db.put_item(**kwargs)
        except ClientError as error:
            if _conditional_failed(error):
                raise Conflict(f"{pk} {sk} was changed concurrently or already exists.") from error
            raise

    def _query(
        self,
        pk: str,
        sk_prefix: str,
        index: str | None = None,
        forward: bool = True,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        pk_name, sk_name = ("gsi1pk", "gsi1sk") if index else ("pk", "sk")
        condition, values = f"{pk_name} = :pk", {":pk": pk}
        if sk_prefix:  # DynamoDB refuses an empty string in a key condition
            condition, values = f"{condition} AND begins_with({sk_name}, :sk)", {**values, ":sk": sk_prefix}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": _attrs(values),
            "ScanIndexForward": forward,
        }
        if index:
            kwargs["IndexName"] = index
        returned = 0
        while True:
            page = self.db.query(**kwargs)
            for item in page.get("Items", []):
                yield item
                returned += 1
                if limit is not None and returned >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ---- datasets ---------------------------------------------------------------------------

    def put_config(self, dataset: str, config: DatasetConfig) -> None:
        item = _attrs(
            {
                "pk": f"DS#{dataset}",
                "sk": "CONFIG",
                "doc": config.model_dump_json(),
                "dataset": dataset,
                "gsi1pk": "DATASETS",
                "gsi1sk": dataset,
            }
        )
        self.db.put_item(TableName=self.table, Item=item)

    def find_config(self, dataset: str) -> DatasetConfig | None:
        item = self._get(f"DS#{dataset}", "CONFIG")
        return None if item is None else _load(DatasetConfig, item)

    def get_config(self, dataset: str) -> DatasetConfig:
        config = self.find_config(dataset)
        if config is None:
            raise ConfigError(
                f"Dataset '{dataset}' has no config: upload with --target COLUMN to create one."
            )
        return config

    def list_datasets(self) -> list[str]:
        return [_de.deserialize(i["dataset"]) for i in self._query("DATASETS", "", index="gsi1")]

    def put_raw_object(self, record: RawObject) -> tuple[RawObject, bool]:
        """Record an uploaded object once: (the stored record, whether this call created it)."""
        sk = f"RAW#{record.raw.bucket}/{record.raw.key}@{record.raw.etag}"
        try:
            self._put(f"DS#{record.dataset}", sk, record, condition="attribute_not_exists(pk)")
            return record, True
        except Conflict:
            existing = self._get(f"DS#{record.dataset}", sk)
            if existing is None:  # deleted between the two calls: treat as new
                return record, True
            return _load(RawObject, existing), False

    def update_raw_object(self, record: RawObject) -> None:
        sk = f"RAW#{record.raw.bucket}/{record.raw.key}@{record.raw.etag}"
        self._put(f"DS#{record.dataset}", sk, record)

    def get_raw_object(self, dataset: str, bucket: str, key: str, etag: str) -> RawObject | None:
        item = self._get(f"DS#{dataset}", f"RAW#{bucket}/{key}@{etag}")
        return None if item is None else _load(RawObject, item)

    def create_dataset_version(self, version: DatasetVersion) -> bool:
        """Store a new version; False when a version with this sha256 exists already."""
        try:
            self._put(
                f"DS#{version.dataset}",
                f"VER#{version.sha256}",
                version,
                extra={
                    "gsi1pk": f"DSVER#{version.dataset}",
                    "gsi1sk": _version_order(version),
                },
                condition="attribute_not_exists(pk)",
            )
            return True
        except Conflict:
            return False

    def find_dataset_version(self, dataset: str, sha256: str) -> DatasetVersion | None:
        item = self._get(f"DS#{dataset}", f"VER#{sha256}")
        return None if item is None else _load(DatasetVersion, item)

    def get_dataset_version(self, dataset: str, sha256: str) -> DatasetVersion:
        version = self.find_dataset_version(dataset, sha256)
        if version is None:
            raise NotFound(f"Dataset '{dataset}' has no version {sha256[:12]}.")
        return version

    def list_dataset_versions(self, dataset: str) -> list[DatasetVersion]:
        """Oldest first."""
        return [_load(DatasetVersion, i) for i in self._query(f"DSVER#{dataset}", "", index="gsi1")]

    def latest_dataset_version(self, dataset: str) -> DatasetVersion | None:
        items = list(self._query(f"DSVER#{dataset}", "", index="gsi1", forward=False, limit=1))
        return _load(DatasetVersion, items[0]) if items else None

    def acquire_lock(self, dataset: str, run_id: str, ttl_s: int) -> bool:
        now = int(utcnow().timestamp())
        item = _attrs(
            {"pk": f"DS#{dataset}", "sk": "LOCK", "run_id": run_id, "expires_at": now + ttl_s, "doc": "{}"}
        )
        try:
            self.db.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR run_id = :run",
                ExpressionAttributeValues=_attrs({":now": now, ":run": run_id}),
            )
            return True
        except ClientError as error:
            if _conditional_failed(error):
                return False
            raise

    def release_lock(self, dataset: str, run_id: str) -> None:
        try:
            self.db.delete_item(
                TableName=self.table,
                Key=_attrs({"pk": f"DS#{dataset}", "sk": "LOCK"}),
                ConditionExpression="run_id = :run",
                ExpressionAttributeValues=_attrs({":run": run_id}),
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise

    def lock_holder(self, dataset: str) -> str | None:
        item = self._get(f"DS#{dataset}", "LOCK")
        if item is None:
            return None
        if int(_de.deserialize(item["expires_at"])) < int(utcnow().timestamp()):
            return None
        return str(_de.deserialize(item["run_id"]))

    # ---- runs -------------------------------------------------------------------------------

    def create_run(self, run: Run) -> bool:
        """Store a new run; False when the run id exists (a redelivered trigger)."""
        try:
            self._put(
                f"RUN#{run.run_id}",
                "RUN",
                run.model_copy(update={"stages": []}),
                extra={
                    "status": run.status,
                    "dataset": run.dataset,
                    "gsi1pk": "RUNS",
                    "gsi1sk": f"{_iso(run.started_at)}#{run.run_id}",
                },
                condition="attribute_not_exists(pk)",
            )
            return True
        except Conflict:
            return False

    def _run_only(self, run_id: str) -> Run:
        item = self._get(f"RUN#{run_id}", "RUN")
        if item is None:
            raise NotFound(f"No run '{run_id}'.")
        return _load(Run, item)

    def get_run(self, run_id: str) -> Run:
        run = self._run_only(run_id)
        stages = [_load(StageRecord, i) for i in self._query(f"RUN#{run_id}", "STAGE#")]
        stages.sort(key=lambda s: s.started_at)
        return run.model_copy(update={"stages": stages})

    def save_run(self, run: Run, expect_status: RunStatus | None = "RUNNING") -> None:
        """Overwrite a run's record; by default only while it is still RUNNING (a finished run stays)."""
        condition = "#s = :expected" if expect_status else None
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Item": _attrs(
                {
                    "pk": f"RUN#{run.run_id}",
                    "sk": "RUN",
                    "doc": _doc(run.model_copy(update={"stages": []})),
                    "status": run.status,
                    "dataset": run.dataset,
                    "gsi1pk": "RUNS",
                    "gsi1sk": f"{_iso(run.started_at)}#{run.run_id}",
                }
            ),
        }
        if condition:
            kwargs.update(
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=_attrs({":expected": expect_status}),
            )
        try:
            self.db.put_item(**kwargs)
        except ClientError as error:
            if _conditional_failed(error):
                raise Conflict(f"Run '{run.run_id}' has already ended.") from error
            raise

    def list_runs(self, dataset: str | None = None, limit: int = 100) -> list[Run]:
        """Newest first."""
        runs: list[Run] = []
        for item in self._query("RUNS", "", index="gsi1", forward=False):
            if dataset and _de.deserialize(item["dataset"]) != dataset:
                continue
            runs.append(_load(Run, item))
            if len(runs) >= limit:
                break
        return runs

    def put_stage(self, run_id: str, stage: StageRecord) -> None:
        self._put(f"RUN#{run_id}", f"STAGE#{stage.name}", stage)

    def get_stage(self, run_id: str, name: str) -> StageRecord | None:
        item = self._get(f"RUN#{run_id}", f"STAGE#{name}")
        return None if item is None else _load(StageRecord, item)

    # ---- models -----------------------------------------------------------------------------

    def next_model_version(self, name: str) -> int:
        out = self.db.update_item(
            TableName=self.table,
            Key=_attrs({"pk": f"MODEL#{name}", "sk": "COUNTER"}),
            UpdateExpression="ADD last_version :one SET doc = if_not_exists(doc, :empty)",
            ExpressionAttributeValues=_attrs({":one": 1, ":empty": "{}"}),
            ReturnValues="UPDATED_NEW",
        )
        return int(_de.deserialize(out["Attributes"]["last_version"]))

    def put_model_version(self, model: ModelVersion) -> None:
        self._put(
            f"MODEL#{model.name}",
            f"VER#{model.version:08d}",
            model,
            extra={"status": model.status, "gsi1pk": "MODELS", "gsi1sk": f"{model.name}#{model.version:08d}"},
        )

    def find_model_version(self, name: str, version: int) -> ModelVersion | None:
        item = self._get(f"MODEL#{name}", f"VER#{version:08d}")
        return None if item is None else _load(ModelVersion, item)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        model = self.find_model_version(name, version)
        if model is None:
            raise NotFound(f"Model '{name}' has no version {version}.")
        return model

    def list_model_versions(self, name: str | None = None) -> list[ModelVersion]:
        items = self._query(f"MODEL#{name}", "VER#") if name else self._query("MODELS", "", index="gsi1")
        return [_load(ModelVersion, i) for i in items]

    def list_model_names(self) -> list[str]:
        return sorted({m.name for m in self.list_model_versions()})

    def get_alias(self, name: str, consistent: bool = True) -> Alias | None:
        item = self._get(f"MODEL#{name}", f"ALIAS#{PRODUCTION}", consistent=consistent)
        return None if item is None else _load(Alias, item)

    def get_production(self, name: str) -> ModelVersion | None:
        alias = self.get_alias(name)
        return None if alias is None else self.get_model_version(name, alias.version)

    def set_model_status(self, name: str, version: int, status: ModelStatus, reason: str | None) -> None:
        model = self.get_model_version(name, version)
        update: dict[str, Any] = {"status": status}
        if reason is not None:
            update["decision_reason"] = reason
        self.put_model_version(model.model_copy(update=update))

    def move_alias(
        self,
        name: str,
        version: int,
        expected: Alias | None,
        action: str,
        run_id: str | None = None,
        reason: str | None = None,
    ) -> Alias:
        """Point production at ``version`` if the alias is still ``expected`` (None: no alias yet).

        One transaction: the alias (conditional on its revision), the history entry, and the status
        of the two model versions involved. Raises Conflict when another writer moved it first.
        """
        target = self.get_model_version(name, version)
        revision = (expected.revision if expected else 0) + 1
        previous = expected.version if expected else None
        alias = Alias(
            name=name,
            version=version,
            revision=revision,
            previous_version=previous,
            action=action,
            run_id=run_id,
        )
        event = AliasEvent(
            name=name,
            revision=revision,
            version=version,
            from_version=previous,
            action=action,
            at=alias.updated_at,
            run_id=run_id,
            reason=reason,
        )
        if expected is None:
            condition, values = "attribute_not_exists(pk)", {}
        else:
            condition, values = "revision = :rev", {":rev": expected.revision}
        alias_put: dict[str, Any] = {
            "TableName": self.table,
            "Item": _attrs(
                {"pk": f"MODEL#{name}", "sk": f"ALIAS#{PRODUCTION}", "doc": _doc(alias), "revision": revision}
            ),
            "ConditionExpression": condition,
        }
        if values:
            alias_put["ExpressionAttributeValues"] = _attrs(values)
        items: list[dict[str, Any]] = [
            {"Put": alias_put},
            {
                "Put": {
                    "TableName": self.table,
                    "Item": _attrs(
                        {"pk": f"MODEL#{name}", "sk": f"ALIASLOG#{revision:08d}", "doc": _doc(event)}
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            self._status_put(target.model_copy(update={"status": "production"})),
        ]
        if previous is not None and previous != version:
            old = self.get_model_version(name, previous)
            items.append(self._status_put(old.model_copy(update={"status": "archived"})))
        try:
            self.db.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as error:
            if _conditional_failed(error):
                raise Conflict(f"The production alias of '{name}' moved concurrently.") from error
            raise
        return alias

    def _status_put(self, model: ModelVersion) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table,
                "Item": _attrs(
                    {
                        "pk": f"MODEL#{model.name}",
                        "sk": f"VER#{model.version:08d}",
                        "doc": _doc(model),
                        "status": model.status,
                        "gsi1pk": "MODELS",
                        "gsi1sk": f"{model.name}#{model.version:08d}",
                    }
                ),
            }
        }

    def alias_history(self, name: str) -> list[AliasEvent]:
        return [_load(AliasEvent, i) for i in self._query(f"MODEL#{name}", "ALIASLOG#")]

    # ---- drift ------------------------------------------------------------------------------

    def put_drift_summary(self, summary: DriftSummary) -> None:
        self._put(
            f"MODEL#{summary.model}",
            f"DRIFT#{_iso(summary.evaluated_at)}",
            summary,
            extra={"version": summary.version},
        )

    def list_drift_summaries(self, name: str, version: int | None = None) -> list[DriftSummary]:
        found = [_load(DriftSummary, i) for i in self._query(f"MODEL#{name}", "DRIFT#")]
        return [s for s in found if version is None or s.version == version]

    def put_json(self, pk: str, sk: str, payload: dict[str, Any]) -> None:
        """A free-form record (e.g. a monitoring cursor) under the caller's own key."""
        self.db.put_item(TableName=self.table, Item=_attrs({"pk": pk, "sk": sk, "doc": json.dumps(payload)}))

    def get_json(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self._get(pk, sk)
        return None if item is None else dict(json.loads(_de.deserialize(item["doc"])))
