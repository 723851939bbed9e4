"""Benchmark of the registry's reads as history grows (run by hand, never in tests).

    .venv/bin/python bench/bench_registry.py [--repeats 5]

In moto (in-process), two tables of the stack's metadata schema, each with 100 datasets whose config
retrains on a schedule (``rate(1 day)``, none due):

- small: 100 runs, all of dataset ``ds000``, and 10 versions of model ``ds000``;
- large: 10,000 runs, 100 per dataset, and 1,000 model versions, 10 for each of 100 models.

Times, and counts with botocore's ``after-call`` hook (DynamoDB calls; items returned and read, from
the parsed ``Count`` and ``ScannedCount``), each of:

- the trigger tick: ``run_scheduled``, what the trigger function runs on each schedule event;
- ``runs list --dataset ds000``: ``runs.list_runs(dataset, limit=100)``, the CLI's call;
- ``models list ds000``: ``models.page_model_versions(name, limit=101)``, the CLI's call;
- ``models list``: ``models.newest_versions(100)``, the CLI's call (its default ``--limit``);

and, against them in the same run, ``runs list --dataset`` as the registry answered it before (every
run's index, newest first, filtered in Python until 100 of the dataset's runs were found).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from moto import mock_aws

from mlops import aws
from mlops.config import DatasetConfig
from mlops.definition import description as d
from mlops.entities import ModelVersion, Run, Trigger, utcnow
from mlops.local.resources import table_definition
from mlops.pipeline.deps import Deps
from mlops.pipeline.trigger import run_scheduled
from mlops.registry import Registry
from mlops.registry.models import name_item, version_item
from mlops.registry.runs import RUNS, last_run_item, run_item
from mlops.registry.table import BY_INDEX, Item, Key, load
from mlops.storage import Storage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DATASETS = 100
X = "ds000"
NOW = utcnow().replace(microsecond=0)
STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:never-started"


@dataclass
class Counter:
    calls: int = 0
    returned: int = 0
    read: int = 0
    operations: dict[str, int] = field(default_factory=dict)

    def __call__(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        self.calls += 1
        self.operations[model.name] = self.operations.get(model.name, 0) + 1
        if "Item" in parsed:
            self.returned, self.read = self.returned + 1, self.read + 1
        self.returned += int(parsed.get("Count", 0))
        self.read += int(parsed.get("ScannedCount", 0))


def batch_put(db: DynamoDBClient, table: str, items: list[Item]) -> None:
    for start in range(0, len(items), 25):
        db.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        )


def seed(registry: Registry, runs_per_dataset: dict[str, int], versions_per_model: dict[str, int]) -> None:
    config = DatasetConfig(target="y", retraining={"schedule": "rate(1 day)"})
    items: list[Item] = []
    for n in range(DATASETS):
        dataset = f"ds{n:03d}"
        registry.datasets.put_config(dataset, config)
    for dataset, count in runs_per_dataset.items():
        for i in range(count):
            # The newest run is the scheduled one, an hour ago: no dataset is due.
            trigger: Trigger = "schedule" if i == count - 1 else "upload"
            started = NOW - timedelta(hours=1) - timedelta(minutes=count - 1 - i)
            run = Run(
                run_id=f"{dataset}-{trigger}-{i:05d}",
                dataset=dataset,
                trigger=trigger,
                status="SUCCEEDED",
                started_at=started,
            )
            items.append(run_item(run))
            if i == count - 1:
                items.append(last_run_item(run))
    for name, count in versions_per_model.items():
        items.append(name_item(name, count))
        for version in range(1, count + 1):
            model = ModelVersion(
                name=name, version=version, task="classification", dataset_version="0" * 64, run_id="r"
            )
            items.append(version_item(model))
    # Batches, not the stores' transactions: moto copies the whole table for each transaction.
    batch_put(registry.table.db, registry.table.name, items)


def runs_before(registry: Registry, dataset: str, limit: int = 100) -> list[Run]:
    """``list_runs(dataset)`` as it was: every run's index, newest first, filtered in Python."""
    found: list[Run] = []
    for item in registry.table.query(Key(RUNS, index=BY_INDEX), forward=False):
        run = load(Run, item)
        if run.dataset == dataset:
            found.append(run)
            if len(found) >= limit:
                break
    return found


@dataclass(frozen=True)
class Measured:
    seconds: float
    calls: int
    returned: int
    read: int


def measure(client: DynamoDBClient, operation: Callable[[], object], repeats: int) -> Measured:
    operation()  # warm
    counter = Counter()
    client.meta.events.register("after-call.dynamodb", counter)
    operation()
    client.meta.events.unregister("after-call.dynamodb", counter)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        operation()
        times.append(time.perf_counter() - started)
    return Measured(statistics.median(times), counter.calls, counter.returned, counter.read)


def operations(registry: Registry) -> dict[str, Callable[[], object]]:
    deps = Deps(registry, Storage(), "data", "artifacts")
    return {
        "trigger tick (run_scheduled)": lambda: run_scheduled(deps, STATE_MACHINE, NOW),
        f"runs list --dataset {X}": lambda: registry.runs.list_runs(X, limit=100),
        f"models list {X}": lambda: registry.models.page_model_versions(X, limit=101),
        "models list": lambda: registry.models.newest_versions(100),
        f"runs list --dataset {X}, before": lambda: runs_before(registry, X),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        aws.reset_clients()
        client = aws.dynamodb()
        cases = {
            "small": ({X: 100}, {X: 10}),
            "large": (
                {f"ds{n:03d}": 100 for n in range(DATASETS)},
                {f"ds{n:03d}": 10 for n in range(DATASETS)},
            ),
        }
        results: dict[str, dict[str, Measured]] = {}
        for case, (runs, versions) in cases.items():
            table = f"bench-registry-{case}"
            client.create_table(**table_definition(d.METADATA_TABLE, table))
            registry = Registry(table, client)
            started = time.perf_counter()
            seed(registry, runs, versions)
            print(
                f"{case}: seeded {sum(runs.values())} runs, {sum(versions.values())} versions "
                f"in {time.perf_counter() - started:.1f}s",
                flush=True,
            )
            results[case] = {
                name: measure(client, op, args.repeats) for name, op in operations(registry).items()
            }
    print()
    print(
        "| operation | case | wall ms | DynamoDB calls | items returned | items read | large / small (time) |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name in results["small"]:
        small, large = results["small"][name], results["large"][name]
        for case, m in (("small", small), ("large", large)):
            ratio = f"{large.seconds / small.seconds:.2f}x" if case == "large" else ""
            print(
                f"| {name} | {case} | {m.seconds * 1000:.1f} | {m.calls} | {m.returned} | {m.read} | {ratio} |"
            )


if __name__ == "__main__":
    main()
