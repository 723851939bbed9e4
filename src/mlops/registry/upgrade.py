"""Items stored by earlier releases, brought up to the current key layout.

Earlier releases found a dataset's runs by filtering every run, and model names by reading every
version; the runs index of a dataset (gsi2) and the model-name index items did not exist. A restored
embedded stack passes its items through ``upgrade_items`` so they are found by today's Queries.
"""

from __future__ import annotations

from mlops.registry.models import MODEL_NAMES, model_pk
from mlops.registry.runs import dataset_runs_pk
from mlops.registry.table import Item, attrs, value


def upgrade_items(items: list[Item]) -> list[Item]:
    """The items with what the current layout adds: runs in their dataset's index, and one model-name
    index entry (with its version count) for each model that has versions but no entry."""
    upgraded: list[Item] = []
    versions: dict[str, int] = {}
    named: set[str] = set()
    for item in items:
        pk, sk = str(value(item, "pk")), str(value(item, "sk"))
        if pk.startswith("RUN#") and sk == "RUN" and "gsi2pk" not in item and "dataset" in item:
            item = {
                **item,
                **attrs(
                    {"gsi2pk": dataset_runs_pk(str(value(item, "dataset"))), "gsi2sk": value(item, "gsi1sk")}
                ),
            }
        elif pk.startswith("MODEL#") and sk.startswith("VER#"):
            versions[pk] = versions.get(pk, 0) + 1
        elif pk.startswith("MODEL#") and sk == "NAME":
            named.add(pk)
        upgraded.append(item)
    for pk, count in versions.items():
        if pk not in named:
            name = pk.removeprefix("MODEL#")
            entry = {"pk": model_pk(name), "sk": "NAME", "doc": "{}", "versions": count}
            upgraded.append(attrs({**entry, "gsi1pk": MODEL_NAMES, "gsi1sk": name}))
    return upgraded
