"""Fakes for the serving unit tests: an in-memory model source and clock, and a recording sink."""

from __future__ import annotations

import hashlib
from typing import Any

from mlops.entities import Alias, ArtifactRef, ModelVersion
from mlops.errors import NotFound
from mlops.serving.model_store import LoadedModel, ModelStore
from mlops.signature_types import BULK_ARTIFACT
from mlops.storage import IntegrityError
from tests.integration.inference_fixtures import Trained, trained_version


class MemorySource:
    """The registry and the artifact bucket as dicts; counts artifact downloads."""

    def __init__(self) -> None:
        self.aliases: dict[str, Alias] = {}
        self.versions: dict[tuple[str, int], ModelVersion] = {}
        self.objects: dict[str, bytes] = {}
        self.downloads = 0
        self.alias_reads = 0
        self.registry_down = False

    def publish(self, name: str, model: Trained, promote: bool = True) -> ModelVersion:
        version = 1 + max((v for (n, v) in self.versions if n == name), default=0)
        key = f"models/{name}/v{version}/model.onnx"
        self.objects[key] = model.onnx
        ref = ArtifactRef(
            bucket="artifacts", key=key, sha256=hashlib.sha256(model.onnx).hexdigest(), size=len(model.onnx)
        )
        artifacts = {"onnx": ref}
        if model.bulk is not None:
            bulk_key = f"models/{name}/v{version}/model.bulk.onnx"
            self.objects[bulk_key] = model.bulk
            artifacts[BULK_ARTIFACT] = ArtifactRef(
                bucket="artifacts",
                key=bulk_key,
                sha256=hashlib.sha256(model.bulk).hexdigest(),
                size=len(model.bulk),
            )
        record = trained_version(name, version, model, artifacts, run_id="run")
        self.versions[(name, version)] = record
        if promote:
            self.promote(name, version)
        return record

    def promote(self, name: str, version: int) -> None:
        previous = self.aliases.get(name)
        self.aliases[name] = Alias(
            name=name,
            version=version,
            revision=(previous.revision + 1) if previous else 1,
            previous_version=previous.version if previous else None,
        )

    def model_names(self) -> list[str]:
        return sorted({n for n, _ in self.versions})

    def production_alias(self, name: str) -> Alias | None:
        self.alias_reads += 1
        if self.registry_down:
            raise ConnectionError("the metadata table is unreachable")
        return self.aliases.get(name)

    def has_versions(self, name: str) -> bool:
        return any(n == name for n, _ in self.versions)

    def model_version(self, name: str, version: int) -> ModelVersion:
        try:
            return self.versions[(name, version)]
        except KeyError:
            raise NotFound(f"Model '{name}' has no version {version}.") from None

    def artifact(self, ref: ArtifactRef) -> bytes:
        self.downloads += 1
        if ref.key not in self.objects:
            raise NotFound(f"{ref.uri} does not exist.")
        data = self.objects[ref.key]
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            raise IntegrityError(f"{ref.uri} does not match its recorded sha256 {ref.sha256[:12]}.")
        return data


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MemorySink:
    def __init__(self, fail: bool = False) -> None:
        self.records: list[bytes] = []
        self.fail = fail

    def put(self, records: list[bytes]) -> None:
        if self.fail:
            raise ConnectionError("firehose is unreachable")
        self.records.extend(records)

    def lines(self) -> list[bytes]:
        return [line for record in self.records for line in record.splitlines()]


def loaded(source: MemorySource, name: str, model: Trained) -> LoadedModel:
    """``model`` published under ``name`` and loaded the way the function loads it."""
    source.publish(name, model)
    return ModelStore(source, alias_ttl_s=60).get(name)


def first_rows(model: Trained, n: int = 3) -> list[dict[str, Any]]:
    """The first ``n`` rows of the training frame as JSON records (features only, NaN as null)."""
    features = [f.name for f in model.signature.features]
    rows = model.frame[features].head(n).astype(object).where(model.frame[features].head(n).notna(), None)
    return [
        {str(k): (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in rows.to_dict("records")
    ]
