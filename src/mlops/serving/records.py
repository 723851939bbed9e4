"""The inference function's read path for the records a model load reads: the production alias, the
model version and its signature, from the JSON the registry and the conversion step wrote.

The registry validates every record with pydantic when it writes one (``mlops.entities``); here each
record is checked for what serving relies on (types of the fields it reads, required fields present)
and read into a frozen dataclass, so the inference function never imports pydantic: importing it and
collecting the records' fields was a large part of the function's cold start (docs/performance.md,
"Cold start"). A document that fails a check raises ``ValueError`` with a one-sentence reason: the model
store refuses that version and keeps serving what it served.

Serving code reads records through the Protocols below, which both these dataclasses and the pydantic
records satisfy (batch scoring and shadow checks pass the ones they already hold). A test holds each
dataclass's fields to its pydantic model's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from mlops.signature_types import PlainFeatureSpec, PlainSignature, SignatureLike, Task
from mlops.storage import ArtifactRefLike

__all__ = [
    "AliasLike",
    "ArtifactRefLike",
    "ModelVersionLike",
    "PlainAlias",
    "PlainArtifactRef",
    "PlainModelVersion",
    "alias_from_json",
    "model_version_from_json",
    "signature_from_json",
]


class ModelVersionLike(Protocol):
    """What serving reads of a model version (``mlops.entities.ModelVersion`` or ``PlainModelVersion``)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def task(self) -> str: ...
    @property
    def metrics(self) -> Mapping[str, float]: ...
    @property
    def dataset_version(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def artifacts(self) -> Mapping[str, ArtifactRefLike]: ...
    @property
    def signature(self) -> SignatureLike | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def trained_at(self) -> datetime | None: ...


class AliasLike(Protocol):
    """What serving reads of the production alias (``mlops.entities.Alias`` or ``PlainAlias``)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def revision(self) -> int: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def candidate(self) -> int | None: ...
    @property
    def candidate_weight(self) -> float: ...


@dataclass(frozen=True)
class PlainArtifactRef:
    bucket: str
    key: str
    sha256: str
    size: int

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class PlainModelVersion:
    """The fields of ``mlops.entities.ModelVersion`` that serving reads."""

    name: str
    version: int
    task: Task
    dataset_version: str
    run_id: str
    created_at: datetime
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, PlainArtifactRef] = field(default_factory=dict)
    signature: PlainSignature | None = None
    trained_at: datetime | None = None


@dataclass(frozen=True)
class PlainAlias:
    """The fields of ``mlops.entities.Alias`` that serving reads."""

    name: str
    version: int
    revision: int
    updated_at: datetime
    candidate: int | None = None
    candidate_weight: float = 0.0


_KINDS = ("numeric", "categorical")


_REQUIRED: Any = object()


def _field(
    doc: dict[str, Any],
    name: str,
    kinds: type | tuple[type, ...],
    record: str,
    default: Any = _REQUIRED,
    nullable: bool = False,
) -> Any:
    if name not in doc:
        if default is _REQUIRED:
            raise ValueError(f"The {record} record has no '{name}'.")
        return default
    found = doc[name]
    if found is None and (nullable or default is None):
        return None
    # bool is an int to Python; no number read here may be a boolean.
    if not isinstance(found, kinds) or (isinstance(found, bool) and bool not in _as_tuple(kinds)):
        raise ValueError(f"The {record} record's '{name}' is {type(found).__name__}, not {_names(kinds)}.")
    return found


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _names(kinds: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kinds))


def _time(doc: dict[str, Any], name: str, record: str) -> datetime | None:
    text = _field(doc, name, str, record, None)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"The {record} record's '{name}' is not an ISO 8601 time.") from None


def _object(data: str | bytes, record: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError:
        raise ValueError(f"The {record} record is not JSON.") from None
    if not isinstance(doc, dict):
        raise ValueError(f"The {record} record is not a JSON object.")
    return doc


def alias_from_json(data: str | bytes) -> PlainAlias:
    doc = _object(data, "alias")
    updated_at = _time(doc, "updated_at", "alias")
    if updated_at is None:
        raise ValueError("The alias record has no 'updated_at'.")
    return PlainAlias(
        name=_field(doc, "name", str, "alias"),
        version=_field(doc, "version", int, "alias"),
        revision=_field(doc, "revision", int, "alias"),
        updated_at=updated_at,
        candidate=_field(doc, "candidate", int, "alias", None),
        candidate_weight=float(_field(doc, "candidate_weight", (int, float), "alias", 0.0)),
    )


def artifact_ref(doc: Any) -> PlainArtifactRef:
    if not isinstance(doc, dict):
        raise ValueError("An artifact reference of the model version record is not a JSON object.")
    return PlainArtifactRef(
        bucket=_field(doc, "bucket", str, "artifact"),
        key=_field(doc, "key", str, "artifact"),
        sha256=_field(doc, "sha256", str, "artifact"),
        size=_field(doc, "size", int, "artifact"),
    )


def model_version_from_json(data: str | bytes) -> PlainModelVersion:
    doc = _object(data, "model version")
    record = "model version"
    artifacts = _field(doc, "artifacts", dict, record, {})
    signature = _field(doc, "signature", dict, record, None)
    created_at = _time(doc, "created_at", record)
    if created_at is None:
        raise ValueError("The model version record has no 'created_at'.")
    metrics = _field(doc, "metrics", dict, record, {})
    return PlainModelVersion(
        name=_field(doc, "name", str, record),
        version=_field(doc, "version", int, record),
        task=_task(_field(doc, "task", str, record), record),
        metrics=metrics,
        dataset_version=_field(doc, "dataset_version", str, record),
        run_id=_field(doc, "run_id", str, record),
        artifacts={str(kind): artifact_ref(ref) for kind, ref in artifacts.items()},
        signature=None if signature is None else signature_from_doc(signature),
        created_at=created_at,
        trained_at=_time(doc, "trained_at", record),
    )


def _task(task: str, record: str) -> Task:
    if task == "classification":
        return "classification"
    if task == "regression":
        return "regression"
    raise ValueError(f"The {record} record's task is '{task}', not classification or regression.")


def signature_from_json(data: str | bytes) -> PlainSignature:
    return signature_from_doc(_object(data, "signature"))


def signature_from_doc(doc: dict[str, Any]) -> PlainSignature:
    record = "signature"
    if doc.get("schema_version", 1) != 1:
        raise ValueError(f"The signature's schema version is {doc.get('schema_version')!r}, not 1.")
    features = _field(doc, "features", list, record)
    classes = _field(doc, "classes", list, record, None)
    if classes is not None and not all(isinstance(c, str | int | float) for c in classes):
        raise ValueError("The signature's classes are not all strings, numbers or booleans.")
    return PlainSignature(
        task=_task(_field(doc, "task", str, record), record),
        target=_field(doc, "target", str, record),
        features=[_feature(f) for f in features],
        classes=classes,
        label_output=_field(doc, "label_output", str, record, "label"),
        probabilities_output=_field(doc, "probabilities_output", str, record, "probabilities", nullable=True),
        value_output=_field(doc, "value_output", str, record, None),
        excluded_columns=_field(doc, "excluded_columns", list, record, []),
    )


def _feature(doc: Any) -> PlainFeatureSpec:
    if not isinstance(doc, dict):
        raise ValueError("A feature of the signature is not a JSON object.")
    record = "signature feature"
    kind = _field(doc, "kind", str, record)
    if kind not in _KINDS:
        raise ValueError(f"The signature feature's kind is '{kind}', not numeric or categorical.")
    categories = _field(doc, "categories", list, record, None)
    if categories is not None and not all(isinstance(c, str) for c in categories):
        raise ValueError("The signature feature's categories are not all strings.")
    return PlainFeatureSpec(
        name=_field(doc, "name", str, record),
        input_name=_field(doc, "input_name", str, record),
        kind=kind,
        dtype=_field(doc, "dtype", str, record),
        nullable=_field(doc, "nullable", bool, record, True),
        categories=categories,
    )
