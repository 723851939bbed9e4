"""The config object: ``raw/<dataset>/mlops.yaml`` beside the data configures the dataset.

An S3-only user writes the dataset's config by putting this object, then uploads CSVs next to it. The
object is applied once per change (its ETag): validated like ``mlops datasets configure`` and written
as a new config revision, or refused with one sentence recorded on its raw-object record (shown by
``mlops datasets show``) and logged. It is never read as a CSV.

The latest change wins: a config revision written after the object (by ``mlops datasets configure``
or ``mlops upload --config``) supersedes it until the object itself changes again. Ingest of a CSV
applies a changed object first, so an upload right after the object trains under it whichever event
arrives first; while the object beside the data is invalid, CSV uploads fail with its reason.
"""

from __future__ import annotations

from datetime import datetime

from mlops.configfile import parse_config
from mlops.entities import RawObject, RawObjectRef, utcnow
from mlops.errors import ConfigError, NotFound
from mlops.pipeline.deps import Deps

CONFIG_OBJECT_NAME = "mlops.yaml"


def config_object_key(dataset: str) -> str:
    return f"raw/{dataset}/{CONFIG_OBJECT_NAME}"


def is_config_object(key: str) -> bool:
    parts = key.split("/")
    return len(parts) == 3 and parts[0] == "raw" and bool(parts[1]) and parts[2] == CONFIG_OBJECT_NAME


def _settled(record: RawObject) -> bool:
    return record.status == "REFUSED" or record.config_revision is not None or record.reason is not None


def apply_config_object(deps: Deps, dataset: str, raw: RawObjectRef, modified: datetime) -> RawObject:
    """Apply the object once (idempotent per ETag); the record says what came of it."""
    record, created = deps.registry.datasets.put_raw_object(
        RawObject(dataset=dataset, raw=raw, status="ACCEPTED", kind="config")
    )
    if not created and _settled(record):
        return record
    current = deps.registry.datasets.current_config(dataset)
    # LastModified has one-second resolution: a revision written within the object's second is a tie,
    # and the object beside the data wins it.
    if (
        current is not None
        and current.source_uri != raw.uri
        and current.created_at.replace(microsecond=0) > modified
    ):
        reason = (
            f"Superseded by config revision {current.revision} ({current.source}), written after this object."
        )
        settled = record.model_copy(update={"reason": reason})
    else:
        try:
            data = deps.storage.get(raw.bucket, raw.key, raw.version_id)
            config = parse_config(data, raw.uri)
        except (ConfigError, NotFound) as error:
            settled = record.model_copy(update={"status": "REFUSED", "reason": str(error)})
        else:
            revision = deps.registry.datasets.put_config(dataset, config, source="s3", source_uri=raw.uri)
            settled = record.model_copy(
                update={
                    "config_revision": revision.revision,
                    "reason": f"Config revision {revision.revision}.",
                }
            )
    deps.registry.datasets.update_raw_object(settled)
    return settled


def sync_config_object(deps: Deps, bucket: str, dataset: str) -> RawObject | None:
    """Apply the dataset's config object if it changed since it was last applied; None if there is none."""
    key = config_object_key(dataset)
    head = deps.storage.head(bucket, key)
    if head is None:
        return None
    raw = RawObjectRef(
        bucket=bucket,
        key=key,
        etag=head.etag,
        version_id=head.version_id,
        size=head.size,
    )
    return apply_config_object(deps, dataset, raw, head.last_modified or utcnow())
