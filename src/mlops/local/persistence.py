"""Keeps the embedded stack's data across restarts: bucket objects and table items in --state-dir.

moto keeps everything in memory; this snapshots what the stack owns (every object of its buckets,
every item of its tables) to files, incrementally, and puts it back on the next start before any
notification is wired, so restoring raw/ objects starts no pipeline. A restored object keeps its ETag
(a multipart upload's too) and version id, so the records naming them stay true. Executions' histories are not
kept; runs, stages, models and lineage are, since they live in the metadata table.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from mlops import aws
from mlops.local.patches import keep_object_identity
from mlops.local.periodic import Periodic
from mlops.local.resources import ACCOUNT
from mlops.observability import logger
from mlops.registry.upgrade import upgrade_items


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class StateStore:
    def __init__(self, state_dir: Path, buckets: list[str], tables: list[str]) -> None:
        self.root = state_dir
        self.buckets = buckets
        self.tables = tables
        self._lock = threading.Lock()

    def _manifest_path(self, bucket: str) -> Path:
        return self.root / "s3" / bucket / "manifest.json"

    def _load_manifest(self, bucket: str) -> dict[str, dict[str, Any]]:
        path = self._manifest_path(bucket)
        return json.loads(path.read_text()) if path.exists() else {}

    def snapshot(self) -> None:
        with self._lock:
            for bucket in self.buckets:
                self._snapshot_bucket(bucket)
            for table in self.tables:
                self._snapshot_table(table)

    def _snapshot_bucket(self, bucket: str) -> None:
        s3 = aws.s3()
        manifest = self._load_manifest(bucket)
        seen: dict[str, dict[str, Any]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                key, etag = obj["Key"], obj["ETag"]
                blob = hashlib.sha256(key.encode()).hexdigest()
                if manifest.get(key, {}).get("etag") != etag:
                    got = s3.get_object(Bucket=bucket, Key=key)
                    _atomic_write(self.root / "s3" / bucket / "objects" / blob, got["Body"].read())
                    seen[key] = {
                        "etag": etag,
                        "version_id": got.get("VersionId"),
                        "blob": blob,
                        "content_type": got.get("ContentType", "application/octet-stream"),
                        "metadata": got.get("Metadata", {}),
                    }
                else:
                    seen[key] = manifest[key]
        for key, entry in manifest.items():
            if key not in seen:
                (self.root / "s3" / bucket / "objects" / entry["blob"]).unlink(missing_ok=True)
        _atomic_write(self._manifest_path(bucket), json.dumps(seen).encode())

    def _snapshot_table(self, table: str) -> None:
        items: list[dict[str, Any]] = []
        for page in aws.dynamodb().get_paginator("scan").paginate(TableName=table):
            items.extend(page.get("Items", []))
        _atomic_write(self.root / "dynamodb" / f"{table}.json", json.dumps(items).encode())

    def restore(self) -> dict[str, int]:
        """Put the snapshot back into freshly created buckets and tables: counts restored."""
        counts = {"objects": 0, "items": 0}
        s3 = aws.s3()
        for bucket in self.buckets:
            for key, entry in self._load_manifest(bucket).items():
                blob = self.root / "s3" / bucket / "objects" / entry["blob"]
                if not blob.exists():
                    continue
                s3.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=blob.read_bytes(),
                    ContentType=entry.get("content_type", "application/octet-stream"),
                    Metadata=entry.get("metadata", {}),
                )
                keep_object_identity(ACCOUNT, bucket, key, entry["etag"], entry.get("version_id"))
                counts["objects"] += 1
        db = aws.client("dynamodb")
        for table in self.tables:
            path = self.root / "dynamodb" / f"{table}.json"
            if not path.exists():
                continue
            # Items an earlier release stored get what today's indexes need (mlops.registry.upgrade).
            items = upgrade_items(json.loads(path.read_text()))
            for start in range(0, len(items), 25):
                batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
                db.batch_write_item(RequestItems={table: batch})
                counts["items"] += len(batch)
        logger.info("Restored embedded stack state", extra=counts)
        return counts


class Snapshotter:
    """Snapshots every ``interval_s`` seconds in the background, and once more on stop."""

    def __init__(self, store: StateStore, interval_s: float = 10.0) -> None:
        self.store = store
        self._periodic = Periodic("local-snapshot", store.snapshot, interval_s, "State snapshot", 30)

    def start(self) -> None:
        self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop()
        self.store.snapshot()
