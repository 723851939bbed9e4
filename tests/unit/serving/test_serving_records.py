"""The inference function's read path for registry records: what pydantic would read, into plain
dataclasses without importing pydantic, and a refusal in one sentence for a record it cannot trust."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from mlops.entities import Alias, ArtifactRef, ModelVersion
from mlops.serving.model_store import ModelStore
from mlops.serving.records import (
    AliasLike,
    ModelVersionLike,
    PlainAlias,
    PlainArtifactRef,
    PlainModelVersion,
    alias_from_json,
    model_version_from_json,
    signature_from_json,
)
from mlops.signature import FeatureSpec, Signature
from mlops.signature_types import FeatureSpecLike, PlainFeatureSpec, PlainSignature, SignatureLike
from mlops.storage import ArtifactRefLike
from tests.integration.inference_fixtures import Trained, trained_version
from tests.unit.serving.serving_testdata import Clock, MemorySource

# Each plain type, the pydantic record it reads, the Protocol serving reads both through, and whether it
# holds every field of the record (the signature's parts) or only those serving reads (the records).
PLAIN_TYPES: list[tuple[type, type[BaseModel], type, bool]] = [
    (PlainFeatureSpec, FeatureSpec, FeatureSpecLike, True),
    (PlainSignature, Signature, SignatureLike, True),
    (PlainArtifactRef, ArtifactRef, ArtifactRefLike, True),
    (PlainModelVersion, ModelVersion, ModelVersionLike, False),
    (PlainAlias, Alias, AliasLike, False),
]
AS_RECORD: dict[Any, Any] = {plain: record for plain, record, _, _ in PLAIN_TYPES}


def normalized(kind: Any) -> Any:
    """A type with each plain type replaced by its record, unions and literals as sets: comparable."""
    if kind in AS_RECORD:
        return AS_RECORD[kind]
    origin, args = typing.get_origin(kind), tuple(normalized(a) for a in typing.get_args(kind))
    if origin is None:
        return kind
    if origin in (typing.Union, types.UnionType, typing.Literal):
        return (str(origin), frozenset(args))
    return (origin, args)


def default_of(field: Any) -> Any:
    factory = field.default_factory
    return factory() if callable(factory) else field.default


@pytest.mark.parametrize(
    ("plain", "record", "protocol", "whole"), PLAIN_TYPES, ids=[p.__name__ for p, *_ in PLAIN_TYPES]
)
def test_the_plain_types_have_the_records_fields(
    plain: type, record: type[BaseModel], protocol: type, whole: bool
) -> None:
    # One source of truth for the field names: a field renamed, added or retyped in the pydantic record
    # fails here until serving's plain type follows.
    plain_fields = {f.name: f for f in dataclasses.fields(plain)}
    hints = typing.get_type_hints(plain)
    if whole:
        assert set(plain_fields) == set(record.model_fields)
    assert set(plain_fields) <= set(record.model_fields)
    for name, field in plain_fields.items():
        info = record.model_fields[name]
        assert normalized(hints[name]) == normalized(info.annotation), name
        if field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING:
            assert default_of(field) == info.get_default(call_default_factory=True), name
    members = {n for n in vars(protocol) if not n.startswith("_")} - {"uri"}
    assert members <= set(plain_fields)


def same_as(plain: Any, record: Any) -> bool:
    """Whether a plain value holds what the pydantic value does, field by field."""
    if dataclasses.is_dataclass(plain):
        return all(
            same_as(getattr(plain, f.name), getattr(record, f.name)) for f in dataclasses.fields(plain)
        )
    if isinstance(plain, list):
        return len(plain) == len(record) and all(map(same_as, plain, record))
    if isinstance(plain, dict):
        return plain.keys() == record.keys() and all(same_as(plain[k], record[k]) for k in plain)
    return bool(plain == record and type(plain) is type(record))


def stored_version(model: Trained, **fields: Any) -> ModelVersion:
    ref = ArtifactRef(
        bucket="b", key="k", sha256=hashlib.sha256(model.onnx).hexdigest(), size=len(model.onnx)
    )
    return trained_version("churn", 3, model, {"onnx": ref}, run_id="run", **fields)


def test_records_read_as_pydantic_validates_them(churn: Trained, diabetes: Trained) -> None:
    for model in (churn, diabetes):
        version = stored_version(model)
        lean = model_version_from_json(version.model_dump_json())
        assert same_as(lean, version)
        assert lean.signature is not None and version.signature is not None
        assert same_as(signature_from_json(model.signature.model_dump_json()), model.signature)
    alias = Alias(name="churn", version=3, revision=4, candidate=4, candidate_weight=10)
    assert same_as(alias_from_json(alias.model_dump_json()), alias)
    assert not same_as(alias_from_json(alias.model_dump_json()), alias.model_copy(update={"version": 4}))


def mutated(document: str, path: tuple[str | int, ...], value: Any) -> str:
    doc = json.loads(document)
    target = doc
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("version",), "3", "The model version record's 'version' is str, not int."),
        (("version",), True, "The model version record's 'version' is bool, not int."),
        (("name",), KeyError, "The model version record has no 'name'."),
        (
            ("task",),
            "ranking",
            "The model version record's task is 'ranking', not classification or regression.",
        ),
        (("created_at",), "yesterday", "The model version record's 'created_at' is not an ISO 8601 time."),
        (
            ("artifacts", "onnx"),
            "s3://b/k",
            "An artifact reference of the model version record is not a JSON object.",
        ),
        (("artifacts", "onnx", "sha256"), None, "The artifact record's 'sha256' is NoneType, not str."),
        (("artifacts", "onnx", "size"), KeyError, "The artifact record has no 'size'."),
        (
            ("signature", "features", 0, "kind"),
            "text",
            "The signature feature's kind is 'text', not numeric or ",
        ),
        (
            ("signature", "features", 0, "input_name"),
            7,
            "The signature feature record's 'input_name' is int, not ",
        ),
        (("signature", "schema_version"), 2, "The signature's schema version is 2, not 1."),
        (("signature", "features"), {}, "The signature record's 'features' is dict, not list."),
    ],
)
def test_a_record_serving_cannot_trust_is_refused_in_one_sentence(
    churn: Trained, path: tuple[str | int, ...], value: Any, reason: str
) -> None:
    document = mutated(stored_version(churn).model_dump_json(), path, value)
    with pytest.raises(ValueError) as refused:
        model_version_from_json(document)
    assert str(refused.value).startswith(reason)
    assert str(refused.value).count(". ") == 0 and str(refused.value).endswith(".")


def test_documents_that_are_not_records_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^The alias record is not JSON\.$"):
        alias_from_json(b"{not json")
    with pytest.raises(ValueError, match=r"^The signature record is not a JSON object\.$"):
        signature_from_json("[1, 2]")
    with pytest.raises(ValueError, match=r"^The alias record has no 'updated_at'\.$"):
        alias_from_json('{"name": "churn", "version": 1, "revision": 1}')


class DocumentSource(MemorySource):
    """The registry as stored documents, read the way the function's registry source reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.documents: dict[tuple[str, int], str] = {}

    def model_version(self, name: str, version: int) -> ModelVersionLike:
        document = (
            self.documents.get((name, version)) or super().model_version(name, version).model_dump_json()
        )
        return model_version_from_json(document)

    def production_alias(self, name: str) -> AliasLike | None:
        alias = self.aliases.get(name)
        return None if alias is None else alias_from_json(alias.model_dump_json())


def test_a_corrupt_version_record_is_refused_and_the_serving_version_keeps_serving(churn: Trained) -> None:
    source, clock = DocumentSource(), Clock()
    store = ModelStore(source, alias_ttl_s=1, clock=clock)
    source.publish("churn", churn)
    assert store.get("churn").version == 1
    second = source.publish("churn", churn)
    source.documents[("churn", 2)] = mutated(
        second.model_dump_json(), ("signature", "features", 0, "kind"), "x"
    )
    clock.now += 2
    assert store.get("churn").version == 1
    # Repaired, the next alias check loads it: nothing was lost.
    del source.documents[("churn", 2)]
    clock.now += 2
    model = store.get("churn")
    assert model.version == 2
    assert isinstance(model.signature, PlainSignature) and same_as(model.signature, churn.signature)


READS_WITHOUT_PYDANTIC = """
import sys
from mlops.serving.model_store import ModelStore
from mlops.serving.records import alias_from_json, model_version_from_json
alias_from_json(sys.argv[1])
model_version_from_json(sys.argv[2])
print(sorted(name for name in sys.modules if name.split(".")[0] in ("pydantic", "pydantic_core")))
"""


def test_reading_the_records_imports_no_pydantic(churn: Trained) -> None:
    # Importing pydantic and collecting the records' fields is what this read path saves the
    # function's cold start.
    alias = Alias(name="churn", version=3, revision=1).model_dump_json()
    out = subprocess.run(
        [sys.executable, "-c", READS_WITHOUT_PYDANTIC, alias, stored_version(churn).model_dump_json()],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == "[]"
