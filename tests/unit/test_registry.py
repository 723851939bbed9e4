"""The registry on moto in-process: conditional writes, the alias race, the lock, pagination, that the
lists the trigger and the CLI read are one Query on a key, never a scan; and its last line: a record
a bound missed fails with a sentence, never DynamoDB's raw error, and a key a user can make long is
stored under its digest and found again."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from moto import mock_aws

from mlops import aws
from mlops.definition.description import METADATA_TABLE
from mlops.entities import Alias, ArtifactRef, ModelVersion, RawObject, RawObjectRef, Run, utcnow
from mlops.errors import Conflict, RecordTooLarge
from mlops.local.resources import table_definition
from mlops.registry import Registry
from mlops.registry.table import attrs
from mlops.registry.upgrade import upgrade_items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

T0 = utcnow().replace(microsecond=0) - timedelta(days=1)


@dataclass
class Calls:
    """Every DynamoDB call the registry's client makes: operation, index, items returned and read."""

    seen: list[tuple[str, str | None, int, int]] = field(default_factory=list)
    index: str | None = None

    def request(self, params: dict[str, Any], **_: Any) -> None:
        self.index = params.get("IndexName")

    def record(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        self.seen.append((model.name, self.index, parsed.get("Count", 0), parsed.get("ScannedCount", 0)))

    def clear(self) -> None:
        self.seen.clear()


@dataclass
class World:
    registry: Registry
    calls: Calls


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[tuple[DynamoDBClient, Calls]]:
    saved = dict(os.environ)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            aws.reset_clients()
            client = aws.dynamodb()
            calls = Calls()
            client.meta.events.register("before-parameter-build.dynamodb", calls.request)
            client.meta.events.register("after-call.dynamodb", calls.record)
            yield client, calls
    finally:
        aws.reset_clients()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture()
def world(dynamodb: tuple[DynamoDBClient, Calls], request: pytest.FixtureRequest) -> World:
    """A table of its own for each test, in the module's one moto backend."""
    client, calls = dynamodb
    name = f"metadata-{request.node.name.removeprefix('test_')[:200]}"
    client.create_table(**table_definition(METADATA_TABLE, name))
    calls.clear()
    return World(Registry(name, client), calls)


def run(run_id: str, dataset: str, minutes: int = 0, status: str = "SUCCEEDED") -> Run:
    return Run.model_validate(
        {
            "run_id": run_id,
            "dataset": dataset,
            "trigger": "upload",
            "status": status,
            "started_at": T0 + timedelta(minutes=minutes),
        }
    )


def version(name: str, number: int) -> ModelVersion:
    return ModelVersion(
        name=name, version=number, task="classification", dataset_version="0" * 64, run_id=f"{name}-{number}"
    )


def test_a_run_is_created_once(world: World) -> None:
    runs = world.registry.runs
    assert runs.create_run(run("r1", "iris"))
    assert not runs.create_run(run("r1", "iris", minutes=5, status="FAILED"))  # a redelivered trigger
    assert runs.get_run("r1").status == "SUCCEEDED"
    assert [r.run_id for r in runs.list_runs("iris")] == ["r1"]


def test_a_finished_run_is_not_overwritten(world: World) -> None:
    runs = world.registry.runs
    runs.create_run(run("r1", "iris", status="RUNNING"))
    runs.save_run(run("r1", "iris", status="SUCCEEDED"))
    with pytest.raises(Conflict, match="Run 'r1' has already ended"):
        runs.save_run(run("r1", "iris", status="FAILED"))
    assert runs.get_run("r1").status == "SUCCEEDED"


def test_a_model_version_is_created_once_and_counted_once(world: World) -> None:
    models = world.registry.models
    models.create_model_version(version("iris", 1))
    with pytest.raises(Conflict, match="Model 'iris' already has a version 1"):
        models.create_model_version(version("iris", 1).model_copy(update={"status": "rejected"}))
    models.create_model_version(version("iris", 2))
    assert models.get_model_version("iris", 1).status == "candidate"
    assert models.model_version_counts() == {"iris": 2}


def test_two_movers_with_the_same_expected_revision_one_wins(world: World) -> None:
    models = world.registry.models
    for number in (1, 2, 3):
        models.create_model_version(version("iris", number))
    first = models.move_alias("iris", 1, None, "promote")
    seen_by_both = models.get_alias("iris")
    assert seen_by_both == first

    outcomes: list[Alias | Conflict] = []
    for target in (2, 3):
        try:
            outcomes.append(models.move_alias("iris", target, seen_by_both, "promote"))
        except Conflict as lost:
            outcomes.append(lost)
    winner, loser = outcomes
    assert isinstance(winner, Alias) and isinstance(loser, Conflict)
    assert str(loser) == "The production alias of 'iris' moved concurrently."
    # Nothing of the loser's transaction landed: production, statuses and history are the winner's.
    assert models.get_alias("iris") == winner and winner.revision == 2
    assert {m.version: m.status for m in models.list_model_versions("iris")} == {
        1: "archived",
        2: "production",
        3: "candidate",
    }
    assert [(e.revision, e.version) for e in models.alias_history("iris")] == [(1, 1), (2, 2)]
    # The loser reads again and moves from there.
    assert models.move_alias("iris", 3, models.get_alias("iris"), "promote").revision == 3


def test_an_expired_lock_is_taken_over_and_a_live_one_is_not(world: World) -> None:
    datasets = world.registry.datasets
    assert datasets.acquire_lock("iris", "r1", ttl_s=3600)
    assert not datasets.acquire_lock("iris", "r2", ttl_s=3600)
    assert datasets.acquire_lock("iris", "r1", ttl_s=3600)  # the holder renews
    assert datasets.lock_holder("iris") == "r1"

    assert datasets.acquire_lock("other", "r3", ttl_s=-10)  # already expired
    assert datasets.lock_holder("other") is None
    assert datasets.acquire_lock("other", "r4", ttl_s=3600)
    datasets.release_lock("other", "r3")  # the old holder's release leaves the new holder's lock
    assert datasets.lock_holder("other") == "r4"
    datasets.release_lock("other", "r4")
    assert datasets.acquire_lock("other", "r5", ttl_s=3600)


def test_pages_of_runs_lose_and_repeat_nothing(world: World) -> None:
    runs = world.registry.runs
    for minute in range(23):
        runs.create_run(run(f"r{minute:02d}", "iris" if minute % 2 else "wine", minutes=minute))
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page, cursor = runs.page_runs(limit=5, cursor=cursor)
        seen += [r.run_id for r in page]
        pages += 1
        if cursor is None:
            break
    assert seen == [f"r{m:02d}" for m in reversed(range(23))] and pages == 5


def test_runs_of_a_dataset_are_one_query_reading_only_what_is_asked(world: World) -> None:
    runs = world.registry.runs
    for minute in range(30):
        runs.create_run(run(f"r{minute:02d}", "iris" if minute % 3 == 0 else "wine", minutes=minute))
    world.calls.clear()
    recent = runs.list_runs("iris", limit=5)
    assert [r.run_id for r in recent] == ["r27", "r24", "r21", "r18", "r15"]
    assert world.calls.seen == [("Query", "gsi2", 5, 5)]

    world.calls.clear()
    assert len(runs.list_runs("iris")) == 10
    assert world.calls.seen == [("Query", "gsi2", 10, 10)]


def test_the_last_run_of_a_trigger_is_one_item_however_many_runs(world: World) -> None:
    runs = world.registry.runs
    for minute in range(21):
        scheduled = run(f"r{minute:02d}", "iris", minutes=minute)
        runs.create_run(
            scheduled.model_copy(update={"trigger": "schedule" if minute % 10 == 0 else "upload"})
        )
    world.calls.clear()
    assert runs.last_run_started("iris", "schedule") == T0 + timedelta(minutes=20)
    assert runs.last_run_started("iris", "drift") is None
    assert [op for op, *_ in world.calls.seen] == ["GetItem", "GetItem"]


def test_model_names_are_one_query_of_the_name_index(world: World) -> None:
    models = world.registry.models
    for name, count in (("wine", 4), ("iris", 6), ("churn", 1)):
        for number in range(1, count + 1):
            models.create_model_version(version(name, number))
    world.calls.clear()
    assert models.list_model_names() == ["churn", "iris", "wine"]
    assert world.calls.seen == [("Query", "gsi1", 3, 3)]

    world.calls.clear()
    newest, more = models.newest_versions(limit=5)
    assert [(m.name, m.version) for m in newest] == [
        ("churn", 1),
        ("iris", 6),
        ("iris", 5),
        ("iris", 4),
        ("iris", 3),
    ]
    assert more
    assert sum(read for *_, read in world.calls.seen) <= 1 + 3 + 1 + 5  # names, then what was asked


def test_the_drift_cursor_is_named_methods(world: World) -> None:
    drift = world.registry.drift
    assert drift.last_evaluation("iris") is None
    drift.record_evaluation("iris", 3, T0)
    assert drift.last_evaluation("iris") == (3, T0)


def test_items_of_an_earlier_release_are_found_after_the_upgrade(world: World) -> None:
    registry = world.registry
    registry.runs.create_run(run("r1", "iris"))
    registry.models.create_model_version(version("iris", 1))
    db = registry.table.db
    # An earlier release's items: a run without the dataset index, a version without a name entry.
    earlier = run("r0", "iris", minutes=-60).model_dump_json()
    old_run = attrs(
        {
            "pk": "RUN#r0",
            "sk": "RUN",
            "doc": earlier,
            "dataset": "iris",
            "gsi1pk": "RUNS",
            "gsi1sk": "2020#r0",
        }
    )
    old_version = attrs(
        {"pk": "MODEL#wine", "sk": "VER#00000001", "doc": version("wine", 1).model_dump_json()}
    )
    assert [r.run_id for r in registry.runs.list_runs("iris")] == ["r1"]
    assert registry.models.list_model_names() == ["iris"]

    stored = db.scan(TableName=registry.table.name)["Items"] + [old_run, old_version]
    for item in upgrade_items(stored):
        db.put_item(TableName=registry.table.name, Item=item)
    assert [r.run_id for r in registry.runs.list_runs("iris")] == ["r1", "r0"]
    assert registry.runs.last_run_started("iris", "upload") == T0  # r1's, the newer
    assert registry.runs.last_run_started("iris", "schedule") is None
    assert registry.models.model_version_counts() == {"iris": 1, "wine": 1}


def test_a_record_past_the_item_limit_is_refused_with_a_sentence(world: World) -> None:
    registry = world.registry
    model = ModelVersion(
        name="big",
        version=1,
        task="classification",
        dataset_version="0" * 64,
        run_id="big-upload-1",
        params={"notes": "p" * 500_000},
        artifacts={"onnx": ArtifactRef(bucket="b", key="k", sha256="0" * 64, size=1)},
    )
    with pytest.raises(
        RecordTooLarge, match=r"^The ModelVersion record is \d+ KB, past the metadata table's"
    ):
        registry.models.create_model_version(model)
    assert registry.models.find_model_version("big", 1) is None


def test_a_key_past_the_sort_key_budget_is_stored_under_its_digest(world: World) -> None:
    registry = world.registry
    key = "raw/long/" + "é" * 500 + ".csv"  # 1,013 bytes in UTF-8: with bucket and etag, past 1,024
    raw = RawObjectRef(bucket="mlops-data", key=key, etag="e" * 32, size=10)
    stored, created = registry.datasets.put_raw_object(RawObject(dataset="long", raw=raw, status="ACCEPTED"))
    assert created and stored.raw.key == key
    found = registry.datasets.get_raw_object("long", "mlops-data", key, "e" * 32)
    assert found is not None and found.raw.key == key
