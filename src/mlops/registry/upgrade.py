"""Items stored by earlier releases, brought up to the current key layout.

Earlier releases found a dataset's runs by filtering every run, and model names by reading every
version; a dataset's runs index (gsi2), its last run of each trigger and the model-name index items
did not exist. A restored embedded stack passes its items through ``upgrade_items`` so today's
Queries find them.
"""

from __future__ import annotations

from mlops.entities import Run
from mlops.registry.models import name_item
from mlops.registry.runs import dataset_runs_pk, last_run_item, run_order
from mlops.registry.table import Item, attrs, load, value


def upgrade_items(items: list[Item]) -> list[Item]:
    """The items with what the current layout adds: runs in their dataset's index, each dataset's last
    run of each trigger, and one model-name index entry (with its version count) for each model that
    has versions but no entry."""
    upgraded: list[Item] = []
    versions: dict[str, int] = {}
    named: set[str] = set()
    last: dict[tuple[str, str], Run] = {}
    marked: set[tuple[str, str]] = set()
    for item in items:
        pk, sk = str(value(item, "pk")), str(value(item, "sk"))
        if pk.startswith("RUN#") and sk == "RUN" and "gsi2pk" not in item:
            run = load(Run, item)
            item = {**item, **attrs({"gsi2pk": dataset_runs_pk(run.dataset), "gsi2sk": run_order(run)})}
            key = (run.dataset, run.trigger)
            if key not in last or last[key].started_at < run.started_at:
                last[key] = run
        elif pk.startswith("DS#") and sk.startswith("LASTRUN#"):
            marked.add((pk.removeprefix("DS#"), sk.removeprefix("LASTRUN#")))
        elif pk.startswith("MODEL#") and sk.startswith("VER#"):
            versions[pk] = versions.get(pk, 0) + 1
        elif pk.startswith("MODEL#") and sk == "NAME":
            named.add(pk)
        upgraded.append(item)
    upgraded += [last_run_item(run) for key, run in last.items() if key not in marked]
    for pk, count in versions.items():
        if pk not in named:
            upgraded.append(name_item(pk.removeprefix("MODEL#"), count))
    return upgraded
