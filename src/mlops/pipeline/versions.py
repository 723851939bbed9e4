"""Recording a dataset version whose canonical copy and details are stored: one conditional write, and
the version a racing writer of the same content made when it won. Shared by the ingest function and
the processing job's poll (``mlops.pipeline.processing``)."""

from __future__ import annotations

from datetime import datetime

from mlops.entities import ArtifactRef, DatasetVersion, RawObjectRef, utcnow
from mlops.pipeline.deps import Deps
from mlops.records import bounded_version


def record_version(
    deps: Deps,
    dataset: str,
    sha: str,
    raw: RawObjectRef,
    rows: int,
    columns: list[str],
    column_types: dict[str, str],
    stored: tuple[ArtifactRef, ArtifactRef],
) -> DatasetVersion:
    """The version item (bounded: the details hold what does not fit) for its ``(canonical, details)``."""
    canonical, details = stored
    full = DatasetVersion(
        dataset=dataset,
        sha256=sha,
        rows=rows,
        columns=columns,
        column_types=column_types,
        canonical=canonical,
        raw=raw,
        uploaded_at=last_modified(deps, raw),
    )
    version = bounded_version(full, details)
    if not deps.registry.datasets.create_dataset_version(version):
        return deps.registry.datasets.get_dataset_version(dataset, sha)
    return version


def last_modified(deps: Deps, raw: RawObjectRef) -> datetime:
    head = deps.storage.head(raw.bucket, raw.key)
    return head.last_modified if head and head.last_modified else utcnow()
