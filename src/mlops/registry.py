"""The metadata adapter: every record of the stack in one DynamoDB table (single-table design).

Items carry their keys, the few attributes conditions and indexes need, and ``doc``: the record as
JSON (no float/Decimal conversions, one schema in ``mlops.models``). Every write that could race is
conditional; a lost race raises ``Conflict``.

Key layout (pk / sk; gsi1pk / gsi1sk):
  DS#<dataset>      CONFIG                      dataset config (current); ``revision`` attribute
  DS#<dataset>      CONFIGREV#<revision:08d>    every config revision
  DS#<dataset>      VERDICT#<sha256>            what validation said about a dataset version
  DS#<dataset>      VER#<sha256>                dataset version; gsi1 DSVER#<dataset> / upload order
  DS#<dataset>      RAW#<bucket>/<key>@<etag>   raw object and what ingest made of it (a key past 512
                                                bytes appears as sha256:<hex of the key>)
  DS#<dataset>      LOCK                        run in flight for drift/schedule triggers
  RUN#<run_id>      RUN                         run; gsi1 RUNS / <started_at>#<run_id>
  RUN#<run_id>      STAGE#<stage>               stage record
  MODEL#<name>      COUNTER                     last version number handed out
  MODEL#<name>      VER#<version:08d>           model version; gsi1 MODELS / <name>#<version:08d>
  MODEL#<name>      ALIAS#production            the production alias (guarded by ``revision``)
  MODEL#<name>      ALIASLOG#<revision:08d>     alias history: the deployments
  MODEL#<name>      ROLLOUT                     the active or last rollout (guarded by ``revision``)
  MODEL#<name>      DRIFT#<evaluated_at>        drift report summaries
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError
from pydantic import BaseModel

from mlops import aws
from mlops.bounds import bound_key_part
from mlops.config import DatasetConfig
from mlops.dynamodb_types import TypeDeserializer, TypeSerializer
from mlops.errors import ConfigError, Conflict, NotFound, RecordTooLarge
from mlops.models import (
    Alias,
    AliasEvent,
    ConfigRevision,
    ConfigSource,
    DatasetVersion,
    DriftSummary,
    ModelStatus,
    ModelVersion,
    RawObject,
    Rollout,
    Run,
    RunStatus,
    StageRecord,
    VersionVerdict,
    utcnow,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

M = TypeVar("M", bound=BaseModel)
PRODUCTION = "production"

_ser = TypeSerializer()
_de = TypeDeserializer()
# DynamoDB refuses items over 400 KB with a message naming no record; records are bounded before they
# get here (mlops.bounds, S3 for what grows), and this keeps a missed bound from reaching the user raw.
MAX_DOC_BYTES = 380_000


def _iso(value: datetime) -> str:
    return value.isoformat()


def _doc(model: BaseModel) -> str:
    doc = model.model_dump_json()
    if len(doc) > MAX_DOC_BYTES // 4 and len(doc.encode()) > MAX_DOC_BYTES:
        raise RecordTooLarge(
            f"The {type(model).__name__} record is {len(doc.encode()) // 1024} KB, past the metadata "
            f"table's {MAX_DOC_BYTES // 1000} KB limit."
        )
    return doc


def _raw_sk(bucket: str, key: str, etag: str) -> str:
    return f"RAW#{bucket}/{bound_key_part(key)}@{etag}"


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


def _encode_cursor(key: dict[str, Any]) -> str:
    plain = {name: _de.deserialize(value) for name, value in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, sort_keys=True).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> dict[str, str]:
    """The key a cursor names; a cursor that is not one of ours raises NotFound (a stale link)."""
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError as error:
        raise NotFound("That page link is not valid any more; start from the first page.") from error
    if not isinstance(plain, dict) or not all(isinstance(v, str) for v in plain.values()):
        raise NotFound("That page link is not valid any more; start from the first page.")
    return {str(k): v for k, v in plain.items()}


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

    def _query_args(self, pk: str, sk_prefix: str, index: str | None, forward: bool) -> dict[str, Any]:
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
        return kwargs

    def _query(
        self,
        pk: str,
        sk_prefix: str,
        index: str | None = None,
        forward: bool = True,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        kwargs = self._query_args(pk, sk_prefix, index, forward)
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

    def _page(
        self,
        pk: str,
        sk_prefix: str,
        index: str | None = None,
        forward: bool = True,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a Query (``Limit`` sent to DynamoDB) and the cursor of the next, if any.

        The cursor is DynamoDB's LastEvaluatedKey as URL-safe text, so a web page can carry it.
        """
        kwargs = {**self._query_args(pk, sk_prefix, index, forward), "Limit": limit}
        if cursor:
            kwargs["ExclusiveStartKey"] = _attrs(_decode_cursor(cursor))
        page = self.db.query(**kwargs)
        last = page.get("LastEvaluatedKey")
        return page.get("Items", []), _encode_cursor(last) if last else None

    # ---- datasets ---------------------------------------------------------------------------

    def put_config(
        self,
        dataset: str,
        config: DatasetConfig,
        source: ConfigSource = "api",
        source_uri: str | None = None,
    ) -> ConfigRevision:
        """Make ``config`` the dataset's config as a new revision; an unchanged config writes nothing.

        The current config and its history entry are written in one transaction, conditional on the
        revision read, so two writers racing cannot both claim the same revision (the loser retries).
        """
        for _ in range(5):
            current = self.current_config(dataset)
            if current is not None and current.config == config:
                return current
            revision = (current.revision if current else 0) + 1
            record = ConfigRevision(
                dataset=dataset, revision=revision, config=config, source=source, source_uri=source_uri
            )
            condition: dict[str, Any] = (
                {"ConditionExpression": "attribute_not_exists(pk)"}
                if current is None
                else {
                    "ConditionExpression": "attribute_not_exists(revision) OR revision = :rev",
                    "ExpressionAttributeValues": _attrs({":rev": current.revision}),
                }
            )
            config_item = _attrs(
                {
                    "pk": f"DS#{dataset}",
                    "sk": "CONFIG",
                    "doc": config.model_dump_json(),
                    "dataset": dataset,
                    "revision": revision,
                    "gsi1pk": "DATASETS",
                    "gsi1sk": dataset,
                }
            )
            history_item = _attrs(
                {"pk": f"DS#{dataset}", "sk": f"CONFIGREV#{revision:08d}", "doc": _doc(record)}
            )
            items: list[dict[str, Any]] = [
                {"Put": {"TableName": self.table, "Item": config_item, **condition}},
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": history_item,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
            try:
                self.db.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
                return record
            except ClientError as error:
                if not _conditional_failed(error):
                    raise
        raise Conflict(f"The config of '{dataset}' kept changing concurrently; try again.")

    def current_config(self, dataset: str) -> ConfigRevision | None:
        """The dataset's config with its revision (0 for a config stored before revisions existed)."""
        item = self._get(f"DS#{dataset}", "CONFIG")
        if item is None:
            return None
        revision = int(_de.deserialize(item["revision"])) if "revision" in item else 0
        stored = self._get(f"DS#{dataset}", f"CONFIGREV#{revision:08d}") if revision else None
        if stored is not None:
            return _load(ConfigRevision, stored)
        return ConfigRevision(dataset=dataset, revision=revision, config=_load(DatasetConfig, item))

    def config_revision(self, dataset: str, revision: int | None) -> ConfigRevision:
        """A given revision of the config (the current one for None, or for a pre-revision run)."""
        if revision:
            item = self._get(f"DS#{dataset}", f"CONFIGREV#{revision:08d}")
            if item is None:
                raise NotFound(f"Dataset '{dataset}' has no config revision {revision}.")
            return _load(ConfigRevision, item)
        current = self.current_config(dataset)
        if current is None:
            raise ConfigError(
                f"Dataset '{dataset}' has no config: upload with --target COLUMN to create one."
            )
        return current

    def list_config_revisions(self, dataset: str) -> list[ConfigRevision]:
        """Oldest first."""
        return [_load(ConfigRevision, i) for i in self._query(f"DS#{dataset}", "CONFIGREV#")]

    def find_config(self, dataset: str) -> DatasetConfig | None:
        item = self._get(f"DS#{dataset}", "CONFIG")
        return None if item is None else _load(DatasetConfig, item)

    def get_config(self, dataset: str) -> DatasetConfig:
        return self.config_revision(dataset, None).config

    def put_verdict(self, verdict: VersionVerdict) -> VersionVerdict:
        """Record validation's verdict on a version; a version once accepted keeps its ``accepted_at``."""
        existing = self.find_verdict(verdict.dataset, verdict.sha256)
        if verdict.status == "accepted" and verdict.accepted_at is None:
            verdict = verdict.model_copy(update={"accepted_at": verdict.validated_at})
        if existing is not None and existing.accepted_at is not None and verdict.accepted_at is None:
            verdict = verdict.model_copy(update={"accepted_at": existing.accepted_at})
        self._put(f"DS#{verdict.dataset}", f"VERDICT#{verdict.sha256}", verdict)
        return verdict

    def find_verdict(self, dataset: str, sha256: str) -> VersionVerdict | None:
        item = self._get(f"DS#{dataset}", f"VERDICT#{sha256}")
        return None if item is None else _load(VersionVerdict, item)

    def list_verdicts(self, dataset: str) -> dict[str, VersionVerdict]:
        return {
            v.sha256: v for v in (_load(VersionVerdict, i) for i in self._query(f"DS#{dataset}", "VERDICT#"))
        }

    def latest_accepted_version(
        self, dataset: str, before: str | None = None
    ) -> tuple[DatasetVersion, VersionVerdict] | None:
        """The newest version (in upload order) that passed validation once; ``before`` excludes that
        version and every one uploaded after it."""
        verdicts = self.list_verdicts(dataset)
        versions = self.list_dataset_versions(dataset)
        if before is not None and before in {v.sha256 for v in versions}:
            versions = versions[: [v.sha256 for v in versions].index(before)]
        for version in reversed(versions):
            verdict = verdicts.get(version.sha256)
            if verdict is not None and verdict.accepted_at is not None:
                return version, verdict
        return None

    def list_datasets(self) -> list[str]:
        return [_de.deserialize(i["dataset"]) for i in self._query("DATASETS", "", index="gsi1")]

    def put_raw_object(self, record: RawObject) -> tuple[RawObject, bool]:
        """Record an uploaded object once: (the stored record, whether this call created it)."""
        sk = _raw_sk(record.raw.bucket, record.raw.key, record.raw.etag)
        try:
            self._put(f"DS#{record.dataset}", sk, record, condition="attribute_not_exists(pk)")
            return record, True
        except Conflict:
            existing = self._get(f"DS#{record.dataset}", sk)
            if existing is None:  # deleted between the two calls: treat as new
                return record, True
            return _load(RawObject, existing), False

    def update_raw_object(self, record: RawObject) -> None:
        sk = _raw_sk(record.raw.bucket, record.raw.key, record.raw.etag)
        self._put(f"DS#{record.dataset}", sk, record)

    def list_raw_objects_at(self, dataset: str, bucket: str, key: str) -> list[RawObject]:
        """Every recorded object written under one key (one record per ETag)."""
        return [_load(RawObject, i) for i in self._query(f"DS#{dataset}", f"RAW#{bucket}/{key}@")]

    def get_raw_object(self, dataset: str, bucket: str, key: str, etag: str) -> RawObject | None:
        item = self._get(f"DS#{dataset}", _raw_sk(bucket, key, etag))
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

    def page_dataset_versions(
        self, dataset: str, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[DatasetVersion], str | None]:
        """Newest first, one page."""
        items, after = self._page(
            f"DSVER#{dataset}", "", index="gsi1", forward=False, limit=limit, cursor=cursor
        )
        return [_load(DatasetVersion, i) for i in items], after

    def list_raw_objects(self, dataset: str) -> list[RawObject]:
        """Every upload of the dataset and what ingest made of it (accepted, duplicate, refused)."""
        return [_load(RawObject, i) for i in self._query(f"DS#{dataset}", "RAW#")]

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

    def page_runs(self, limit: int = 50, cursor: str | None = None) -> tuple[list[Run], str | None]:
        """Newest first, one page (without their stages: ``run_stages`` reads those)."""
        items, after = self._page("RUNS", "", index="gsi1", forward=False, limit=limit, cursor=cursor)
        return [_load(Run, i) for i in items], after

    def run_stages(self, run_id: str) -> list[StageRecord]:
        stages = [_load(StageRecord, i) for i in self._query(f"RUN#{run_id}", "STAGE#")]
        return sorted(stages, key=lambda s: s.started_at)

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

    def page_model_versions(
        self, name: str, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[ModelVersion], str | None]:
        """Newest first, one page."""
        items, after = self._page(f"MODEL#{name}", "VER#", forward=False, limit=limit, cursor=cursor)
        return [_load(ModelVersion, i) for i in items], after

    def model_version_counts(self) -> dict[str, int]:
        """Each model's number of versions, reading only the index keys (not the records)."""
        counts: dict[str, int] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": _attrs({":pk": "MODELS"}),
            "ProjectionExpression": "gsi1sk",
        }
        while True:
            page = self.db.query(**kwargs)
            for item in page.get("Items", []):
                name = str(_de.deserialize(item["gsi1sk"])).rsplit("#", 1)[0]
                counts[name] = counts.get(name, 0) + 1
            if "LastEvaluatedKey" not in page:
                return counts
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

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
        actor: str | None = None,
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
            actor=actor,
        )
        items: list[dict[str, Any]] = [
            *self._alias_puts(alias, event, expected),
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

    def _alias_puts(self, alias: Alias, event: AliasEvent, expected: Alias | None) -> list[dict[str, Any]]:
        """The alias (conditional on the revision the writer saw) and its history entry."""
        if expected is None:
            condition, values = "attribute_not_exists(pk)", {}
        else:
            condition, values = "revision = :rev", {":rev": expected.revision}
        key = {"pk": f"MODEL#{alias.name}", "sk": f"ALIAS#{PRODUCTION}"}
        alias_put: dict[str, Any] = {
            "TableName": self.table,
            "Item": _attrs({**key, "doc": _doc(alias), "revision": alias.revision}),
            "ConditionExpression": condition,
        }
        if values:
            alias_put["ExpressionAttributeValues"] = _attrs(values)
        log_key = {"pk": f"MODEL#{alias.name}", "sk": f"ALIASLOG#{alias.revision:08d}"}
        return [
            {"Put": alias_put},
            {
                "Put": {
                    "TableName": self.table,
                    "Item": _attrs({**log_key, "doc": _doc(event)}),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]

    def set_candidate(
        self,
        expected: Alias,
        candidate: int | None,
        weight: float,
        action: str,
        reason: str,
        run_id: str | None = None,
        actor: str | None = None,
        status: ModelStatus | None = None,
    ) -> Alias:
        """Give a candidate ``weight`` percent of production's traffic (None: no candidate), production
        itself unchanged; conditional on the alias revision like ``move_alias``. ``status`` also sets
        the candidate's model status in the same transaction."""
        alias = expected.model_copy(
            update={
                "revision": expected.revision + 1,
                "candidate": candidate,
                "candidate_weight": weight if candidate is not None else 0.0,
                "updated_at": utcnow(),
            }
        )
        event = AliasEvent(
            name=expected.name,
            revision=alias.revision,
            version=expected.version,
            from_version=expected.version,
            action=action,
            at=alias.updated_at,
            run_id=run_id,
            reason=reason,
            actor=actor,
            candidate=candidate if candidate is not None else expected.candidate,
            candidate_weight=alias.candidate_weight,
        )
        items = self._alias_puts(alias, event, expected)
        subject = candidate if candidate is not None else expected.candidate
        if status is not None and subject is not None:
            model = self.get_model_version(expected.name, subject)
            items.append(
                self._status_put(model.model_copy(update={"status": status, "decision_reason": reason}))
            )
        try:
            self.db.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as error:
            if _conditional_failed(error):
                raise Conflict(f"The production alias of '{expected.name}' moved concurrently.") from error
            raise
        return alias

    # ---- rollouts ---------------------------------------------------------------------------

    def get_rollout(self, name: str) -> Rollout | None:
        """The model's active rollout, or its last one."""
        item = self._get(f"MODEL#{name}", "ROLLOUT")
        return None if item is None else _load(Rollout, item)

    def save_rollout(self, rollout: Rollout, expected: Rollout | None) -> Rollout:
        """Write the rollout if the stored one is still ``expected`` (None: none is running), so two
        checks, or a check and an abort, never both apply. Every save stamps a new ``updated_at``."""
        stored = rollout.model_copy(update={"updated_at": utcnow()})
        if expected is None:
            condition = "attribute_not_exists(pk) OR rollout_status <> :running"
            values: dict[str, Any] = {":running": "running"}
        else:
            condition = "rollout_id = :id AND updated_at = :at"
            values = {":id": expected.rollout_id, ":at": _iso(expected.updated_at)}
        item = {
            "pk": f"MODEL#{rollout.name}",
            "sk": "ROLLOUT",
            "doc": _doc(stored),
            "rollout_status": stored.status,
            "rollout_id": stored.rollout_id,
            "updated_at": _iso(stored.updated_at),
        }
        try:
            self.db.put_item(
                TableName=self.table,
                Item=_attrs(item),
                ConditionExpression=condition,
                ExpressionAttributeValues=_attrs(values),
            )
        except ClientError as error:
            if _conditional_failed(error):
                raise Conflict(f"The rollout of '{rollout.name}' changed concurrently.") from error
            raise
        return stored

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

    def recent_drift_summaries(self, name: str, limit: int = 50) -> list[DriftSummary]:
        """The latest ``limit`` evaluations of a model, newest first."""
        items, _ = self._page(f"MODEL#{name}", "DRIFT#", forward=False, limit=limit)
        return [_load(DriftSummary, i) for i in items]

    def find_drift_summary(self, name: str, evaluated_at: datetime) -> DriftSummary | None:
        item = self._get(f"MODEL#{name}", f"DRIFT#{_iso(evaluated_at)}", consistent=False)
        return None if item is None else _load(DriftSummary, item)

    def put_json(self, pk: str, sk: str, payload: dict[str, Any]) -> None:
        """A free-form record (e.g. a monitoring cursor) under the caller's own key."""
        self.db.put_item(TableName=self.table, Item=_attrs({"pk": pk, "sk": sk, "doc": json.dumps(payload)}))

    def get_json(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self._get(pk, sk)
        return None if item is None else dict(json.loads(_de.deserialize(item["doc"])))
