"""Records that grow with the data: the full document in S3 (by its sha256), a bounded one inline.

A dataset version's profile, its column list and types, and a model's signature (with every allowed
category) grow with the table a user uploads: 2,000 columns, or a categorical column with thousands
of long values, pass DynamoDB's 400 KB item limit. The full documents are S3 objects recorded with
their sha256 and read back verified; the metadata item keeps what fits in ``INLINE_BYTES``.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from mlops.entities import ArtifactRef, DatasetVersion, ModelVersion
from mlops.signature import Signature

INLINE_BYTES = 64 * 1024


class ArtifactReader(Protocol):
    """What reading a record's artifacts takes: the Storage adapter, or an in-memory fake of it."""

    def get_verified(self, ref: ArtifactRef) -> bytes: ...


def fits_inline(document: Any) -> bool:
    """Whether a document fits the part of a metadata item it may take (``INLINE_BYTES``)."""
    return len(json.dumps(document, ensure_ascii=False).encode()) <= INLINE_BYTES


def details_document(columns: list[str], column_types: dict[str, str], profile: dict[str, Any]) -> bytes:
    return json.dumps({"columns": columns, "column_types": column_types, "profile": profile}).encode()


def bounded_version(version: DatasetVersion, details: ArtifactRef) -> DatasetVersion:
    """The version as its item stores it: the profile in ``details`` only, the columns while they fit."""
    columns, types = version.columns, version.column_types
    if not fits_inline([columns, types]):
        columns, types = [], {}
    return version.model_copy(
        update={
            "profile": {},
            "columns": columns,
            "column_types": types,
            "column_count": len(version.columns),
            "details": details,
        }
    )


def version_schema(storage: ArtifactReader, version: DatasetVersion) -> dict[str, str]:
    """Every column's type, from the item or, when it holds only part of them, from the details."""
    if version.details is None or len(version.column_types) == (version.column_count or 0):
        return version.column_types
    document = json.loads(storage.get_verified(version.details))
    return dict(document["column_types"])


def inline_signature(signature: Signature) -> Signature | None:
    """The signature a model item carries inline: itself while it fits, else None (read the artifact)."""
    return signature if fits_inline(signature.model_dump(mode="json")) else None


def model_signature(storage: ArtifactReader, model: ModelVersion) -> Signature | None:
    """The model's signature: inline, or its verified ``signature`` artifact; None when it has neither."""
    if model.signature is not None:
        return model.signature
    ref = model.artifacts.get("signature")
    return None if ref is None else Signature.model_validate_json(storage.get_verified(ref))
