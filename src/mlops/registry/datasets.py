"""Datasets: config revisions, validation verdicts, raw objects, dataset versions and the trigger lock."""

from __future__ import annotations

from typing import Any

from mlops.bounds import bound_key_part
from mlops.config import DatasetConfig
from mlops.entities import ConfigRevision, ConfigSource, DatasetVersion, RawObject, VersionVerdict, utcnow
from mlops.errors import ConfigError, Conflict, NotFound
from mlops.registry.table import BY_INDEX, NEW, Condition, Item, Key, Table, attrs, doc, iso, load, value

DATASETS = "DATASETS"


def dataset_pk(dataset: str) -> str:
    return f"DS#{dataset}"


def _raw_sk(bucket: str, key: str, etag: str) -> str:
    return f"RAW#{bucket}/{bound_key_part(key)}@{etag}"


def _version_order(version: DatasetVersion) -> str:
    """Upload order: S3's LastModified (one-second resolution), then the event sequencer (which orders
    writes to the same key), then when ingest saw it."""
    sequencer = (version.raw.sequencer or "").rjust(32, "0")
    return f"{iso(version.uploaded_at)}#{sequencer}#{iso(version.created_at)}"


def _config_item(record: ConfigRevision) -> Item:
    return attrs(
        {
            "pk": dataset_pk(record.dataset),
            "sk": "CONFIG",
            "doc": record.config.model_dump_json(),
            "dataset": record.dataset,
            "revision": record.revision,
            "gsi1pk": DATASETS,
            "gsi1sk": record.dataset,
        }
    )


def _version_item(version: DatasetVersion) -> Item:
    return attrs(
        {
            "pk": dataset_pk(version.dataset),
            "sk": f"VER#{version.sha256}",
            "doc": doc(version),
            "gsi1pk": f"DSVER#{version.dataset}",
            "gsi1sk": _version_order(version),
        }
    )


def _raw_item(record: RawObject) -> Item:
    sk = _raw_sk(record.raw.bucket, record.raw.key, record.raw.etag)
    return attrs({"pk": dataset_pk(record.dataset), "sk": sk, "doc": doc(record)})


class DatasetStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    # ---- config -----------------------------------------------------------------------------

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
            guard = (
                NEW
                if current is None
                else Condition(
                    "attribute_not_exists(revision) OR revision = :rev", {":rev": current.revision}
                )
            )
            history = attrs(
                {"pk": dataset_pk(dataset), "sk": f"CONFIGREV#{revision:08d}", "doc": doc(record)}
            )
            try:
                self.table.transact(
                    [
                        self.table.put_request(_config_item(record), guard),
                        self.table.put_request(history, NEW),
                    ],
                    conflict=f"The config of '{dataset}' changed concurrently.",
                )
                return record
            except Conflict:
                continue
        raise Conflict(f"The config of '{dataset}' kept changing concurrently; try again.")

    def current_config(self, dataset: str) -> ConfigRevision | None:
        """The dataset's config with its revision (0 for a config stored before revisions existed)."""
        item = self.table.get(dataset_pk(dataset), "CONFIG")
        if item is None:
            return None
        revision = int(value(item, "revision")) if "revision" in item else 0
        stored = self.table.get(dataset_pk(dataset), f"CONFIGREV#{revision:08d}") if revision else None
        if stored is not None:
            return load(ConfigRevision, stored)
        return ConfigRevision(dataset=dataset, revision=revision, config=load(DatasetConfig, item))

    def config_revision(self, dataset: str, revision: int | None) -> ConfigRevision:
        """A given revision of the config (the current one for None, or for a pre-revision run)."""
        if revision:
            item = self.table.get(dataset_pk(dataset), f"CONFIGREV#{revision:08d}")
            if item is None:
                raise NotFound(f"Dataset '{dataset}' has no config revision {revision}.")
            return load(ConfigRevision, item)
        current = self.current_config(dataset)
        if current is None:
            raise ConfigError(
                f"Dataset '{dataset}' has no config: upload with --target COLUMN to create one."
            )
        return current

    def list_config_revisions(self, dataset: str) -> list[ConfigRevision]:
        """Oldest first."""
        return [load(ConfigRevision, i) for i in self.table.query(Key(dataset_pk(dataset), "CONFIGREV#"))]

    def find_config(self, dataset: str) -> DatasetConfig | None:
        item = self.table.get(dataset_pk(dataset), "CONFIG")
        return None if item is None else load(DatasetConfig, item)

    def get_config(self, dataset: str) -> DatasetConfig:
        return self.config_revision(dataset, None).config

    def list_datasets(self) -> list[str]:
        return [str(value(i, "dataset")) for i in self.table.query(Key(DATASETS, index=BY_INDEX))]

    # ---- verdicts ---------------------------------------------------------------------------

    def put_verdict(self, verdict: VersionVerdict) -> VersionVerdict:
        """Record validation's verdict on a version; a version once accepted keeps its ``accepted_at``."""
        existing = self.find_verdict(verdict.dataset, verdict.sha256)
        if verdict.status == "accepted" and verdict.accepted_at is None:
            verdict = verdict.model_copy(update={"accepted_at": verdict.validated_at})
        if existing is not None and existing.accepted_at is not None and verdict.accepted_at is None:
            verdict = verdict.model_copy(update={"accepted_at": existing.accepted_at})
        self.table.put(
            attrs({"pk": dataset_pk(verdict.dataset), "sk": f"VERDICT#{verdict.sha256}", "doc": doc(verdict)})
        )
        return verdict

    def find_verdict(self, dataset: str, sha256: str) -> VersionVerdict | None:
        item = self.table.get(dataset_pk(dataset), f"VERDICT#{sha256}")
        return None if item is None else load(VersionVerdict, item)

    def list_verdicts(self, dataset: str) -> dict[str, VersionVerdict]:
        found = (load(VersionVerdict, i) for i in self.table.query(Key(dataset_pk(dataset), "VERDICT#")))
        return {v.sha256: v for v in found}

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

    # ---- raw objects ------------------------------------------------------------------------

    def put_raw_object(self, record: RawObject) -> tuple[RawObject, bool]:
        """Record an uploaded object once: (the stored record, whether this call created it)."""
        try:
            self.table.put(_raw_item(record), NEW)
            return record, True
        except Conflict:
            existing = self.get_raw_object(record.dataset, record.raw.bucket, record.raw.key, record.raw.etag)
            if existing is None:  # deleted between the two calls: treat as new
                return record, True
            return existing, False

    def update_raw_object(self, record: RawObject) -> None:
        self.table.put(_raw_item(record))

    def list_raw_objects_at(self, dataset: str, bucket: str, key: str) -> list[RawObject]:
        """Every recorded object written under one key (one record per ETag)."""
        return [
            load(RawObject, i) for i in self.table.query(Key(dataset_pk(dataset), f"RAW#{bucket}/{key}@"))
        ]

    def get_raw_object(self, dataset: str, bucket: str, key: str, etag: str) -> RawObject | None:
        item = self.table.get(dataset_pk(dataset), _raw_sk(bucket, key, etag))
        return None if item is None else load(RawObject, item)

    def list_raw_objects(self, dataset: str) -> list[RawObject]:
        """Every upload of the dataset and what ingest made of it (accepted, duplicate, refused)."""
        return [load(RawObject, i) for i in self.table.query(Key(dataset_pk(dataset), "RAW#"))]

    # ---- dataset versions -------------------------------------------------------------------

    def create_dataset_version(self, version: DatasetVersion) -> bool:
        """Store a new version; False when a version with this sha256 exists already."""
        try:
            self.table.put(_version_item(version), NEW)
            return True
        except Conflict:
            return False

    def find_dataset_version(self, dataset: str, sha256: str) -> DatasetVersion | None:
        item = self.table.get(dataset_pk(dataset), f"VER#{sha256}")
        return None if item is None else load(DatasetVersion, item)

    def get_dataset_version(self, dataset: str, sha256: str) -> DatasetVersion:
        version = self.find_dataset_version(dataset, sha256)
        if version is None:
            raise NotFound(f"Dataset '{dataset}' has no version {sha256[:12]}.")
        return version

    def list_dataset_versions(self, dataset: str) -> list[DatasetVersion]:
        """Oldest first."""
        return [load(DatasetVersion, i) for i in self.table.query(Key(f"DSVER#{dataset}", index=BY_INDEX))]

    def latest_dataset_version(self, dataset: str) -> DatasetVersion | None:
        items = list(self.table.query(Key(f"DSVER#{dataset}", index=BY_INDEX), forward=False, limit=1))
        return load(DatasetVersion, items[0]) if items else None

    def page_dataset_versions(
        self, dataset: str, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[DatasetVersion], str | None]:
        """Newest first, one page."""
        items, after = self.table.page(
            Key(f"DSVER#{dataset}", index=BY_INDEX), forward=False, limit=limit, cursor=cursor
        )
        return [load(DatasetVersion, i) for i in items], after

    # ---- the trigger lock -------------------------------------------------------------------

    def acquire_lock(self, dataset: str, run_id: str, ttl_s: int) -> bool:
        """Take the dataset's lock for ``run_id`` unless another run holds a live one (an expired lock
        is taken over; the holder taking it again renews it)."""
        now = int(utcnow().timestamp())
        item = attrs(
            {
                "pk": dataset_pk(dataset),
                "sk": "LOCK",
                "run_id": run_id,
                "expires_at": now + ttl_s,
                "doc": "{}",
            }
        )
        free: dict[str, Any] = {":now": now, ":run": run_id}
        try:
            self.table.put(
                item, Condition("attribute_not_exists(pk) OR expires_at < :now OR run_id = :run", free)
            )
        except Conflict:
            return False
        return True

    def release_lock(self, dataset: str, run_id: str) -> None:
        """Release the lock if ``run_id`` still holds it (a lock taken over stays with its new holder)."""
        self.table.delete(dataset_pk(dataset), "LOCK", Condition("run_id = :run", {":run": run_id}))

    def lock_holder(self, dataset: str) -> str | None:
        item = self.table.get(dataset_pk(dataset), "LOCK")
        if item is None or int(value(item, "expires_at")) < int(utcnow().timestamp()):
            return None
        return str(value(item, "run_id"))
