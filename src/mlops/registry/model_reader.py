"""The model records' read side as stored documents: what the inference function reads of the table.

The keys of the model records (``mlops.registry`` documents the layout) and the reads that return a
record's JSON as stored, unvalidated, for readers that check it themselves (``mlops.serving.records``).
No pydantic here: the inference function imports this module, and ``ModelStore``
(``mlops.registry.models``), which adds the validated reads and every write, builds on it.
"""

from __future__ import annotations

from mlops.registry.table import BY_INDEX, Key, Table, value

PRODUCTION = "production"
MODEL_NAMES = "MODELNAMES"


def model_pk(name: str) -> str:
    return f"MODEL#{name}"


def version_sk(version: int) -> str:
    return f"VER#{version:08d}"


ALIAS_SK = f"ALIAS#{PRODUCTION}"


class ModelReader:
    def __init__(self, table: Table) -> None:
        self.table = table

    def model_version_document(self, name: str, version: int) -> str | None:
        """A version's record as stored (JSON), unvalidated: for readers that check it themselves."""
        item = self.table.get(model_pk(name), version_sk(version))
        return None if item is None else str(value(item, "doc"))

    def alias_document(self, name: str, consistent: bool = True) -> str | None:
        """The production alias as stored (JSON), unvalidated: for readers that check it themselves."""
        item = self.table.get(model_pk(name), ALIAS_SK, consistent=consistent)
        return None if item is None else str(value(item, "doc"))

    def has_model_versions(self, name: str) -> bool:
        """Whether the model has any stored version (one item read, none validated)."""
        return any(True for _ in self.table.query(Key(model_pk(name), "VER#"), limit=1))

    def model_version_counts(self) -> dict[str, int]:
        """Each model's number of versions, from the model-name index alone."""
        items = self.table.query(Key(MODEL_NAMES, index=BY_INDEX))
        return {str(value(i, "gsi1sk")): int(value(i, "versions")) for i in items}

    def list_model_names(self) -> list[str]:
        return sorted(self.model_version_counts())
