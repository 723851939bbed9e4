"""The inference function's read path for registry records: what pydantic would read, without building a
validator, and a refusal in one sentence for a record it cannot trust."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from typing import Any

import pytest

from mlops.entities import Alias, ArtifactRef, ModelVersion
from mlops.serving.model_store import ModelStore
from mlops.serving.records import alias_from_json, model_version_from_json, signature_from_json
from mlops.signature import Signature
from tests.integration.inference_fixtures import Trained, trained_version
from tests.unit.serving.serving_testdata import Clock, MemorySource


def stored_version(model: Trained, **fields: Any) -> ModelVersion:
    ref = ArtifactRef(
        bucket="b", key="k", sha256=hashlib.sha256(model.onnx).hexdigest(), size=len(model.onnx)
    )
    return trained_version("churn", 3, model, {"onnx": ref}, run_id="run", **fields)


def test_records_read_as_pydantic_validates_them(churn: Trained, diabetes: Trained) -> None:
    for model in (churn, diabetes):
        version = stored_version(model)
        lean = model_version_from_json(version.model_dump_json())
        for field in ("name", "version", "task", "metrics", "dataset_version", "run_id", "created_at"):
            assert getattr(lean, field) == getattr(version, field)
        assert lean.trained_at == version.trained_at
        assert {k: v.model_dump() for k, v in lean.artifacts.items()} == {
            k: v.model_dump() for k, v in version.artifacts.items()
        }
        assert lean.signature is not None and version.signature is not None
        assert lean.signature.model_dump() == version.signature.model_dump()
        assert (
            signature_from_json(model.signature.model_dump_json()).model_dump()
            == model.signature.model_dump()
        )
    alias = Alias(name="churn", version=3, revision=4, candidate=4, candidate_weight=10)
    lean_alias = alias_from_json(alias.model_dump_json())
    for field in ("name", "version", "revision", "updated_at", "candidate", "candidate_weight"):
        assert getattr(lean_alias, field) == getattr(alias, field)
    assert lean_alias.model_copy(update={"version": 4}).version == 4


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

    def model_version(self, name: str, version: int) -> ModelVersion:
        document = (
            self.documents.get((name, version)) or super().model_version(name, version).model_dump_json()
        )
        return model_version_from_json(document)

    def production_alias(self, name: str) -> Alias | None:
        alias = super().production_alias(name)
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
    assert isinstance(model.signature, Signature) and model.signature == churn.signature


READS_WITHOUT_VALIDATORS = """
import sys
from mlops.entities import Alias, ArtifactRef, ModelVersion
from mlops.serving.records import alias_from_json, model_version_from_json
from mlops.signature import FeatureSpec, Signature
alias_from_json(sys.argv[1])
model_version_from_json(sys.argv[2])
print([c.__name__ for c in (Alias, ArtifactRef, ModelVersion, Signature, FeatureSpec) if c.__pydantic_complete__])
"""


def test_reading_the_records_builds_no_pydantic_validator(churn: Trained) -> None:
    # Building them is what this read path saves the function's first request.
    alias = Alias(name="churn", version=3, revision=1).model_dump_json()
    out = subprocess.run(
        [sys.executable, "-c", READS_WITHOUT_VALIDATORS, alias, stored_version(churn).model_dump_json()],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == "[]"
