"""The embedded stack's DynamoDB applies conditional writes atomically, as DynamoDB does.

moto checks a write's condition and then writes; two threads could both pass the same condition. The
registry's guards (one alias move per revision, one run per id) depend on exactly one winner.
"""

from __future__ import annotations

import sys
import threading
import traceback

from botocore.exceptions import ClientError

from mlops import aws
from mlops.registry import Registry

WRITERS = 8
ROUNDS = 30


def test_racing_conditional_writes_have_exactly_one_winner(registry: Registry) -> None:
    db = aws.dynamodb()
    wins: dict[int, int] = {n: 0 for n in range(ROUNDS)}
    unexpected: list[str] = []
    lock = threading.Lock()

    def writer() -> None:
        try:
            race()
        except Exception as error:  # reported below; a dead writer must not hang the others
            unexpected.append("".join(traceback.format_exception(error)))
            barrier.abort()

    def race() -> None:
        for n in range(ROUNDS):
            barrier.wait(timeout=60)
            try:
                db.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": registry.table.name,
                                "Item": {"pk": {"S": "RACE#atomic"}, "sk": {"S": f"R#{n}"}},
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                        {
                            "Put": {
                                "TableName": registry.table.name,
                                "Item": {"pk": {"S": "RACE#atomic"}, "sk": {"S": f"H#{n}"}},
                            }
                        },
                    ]
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                continue
            with lock:
                wins[n] += 1

    barrier = threading.Barrier(WRITERS)
    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, as a loaded machine does
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert unexpected == [], unexpected[0]
    assert wins == {n: 1 for n in range(ROUNDS)}


def test_racing_config_writers_each_get_their_own_revision(registry: Registry) -> None:
    from mlops.config import DatasetConfig

    writers = 4
    barrier = threading.Barrier(writers)
    written: list[int] = []
    lock = threading.Lock()

    def configure(n: int) -> None:
        barrier.wait(timeout=60)
        revision = registry.datasets.put_config("raced", DatasetConfig(target=f"label{n}"), source="api")
        with lock:
            written.append(revision.revision)

    threads = [threading.Thread(target=configure, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = registry.datasets.list_config_revisions("raced")
    assert sorted(written) == [r.revision for r in history] == list(range(1, writers + 1))
    assert sorted(r.config.target for r in history) == [f"label{n}" for n in range(writers)]
    current = registry.datasets.current_config("raced")
    assert current is not None and current.revision == writers


def test_reads_racing_transactions_fail_neither(registry: Registry) -> None:
    # moto's GetItem of a missing key adds an empty partition to the table's dict while a transaction
    # deep-copies that table: unguarded, the transaction failed with "dictionary changed size during
    # iteration" (a function reading beside the pipeline's writes, as on a running local stack).
    db = aws.dynamodb()
    errors: list[str] = []
    done = threading.Event()

    def reader(which: int) -> None:
        n = 0
        while not done.is_set():
            n += 1
            try:
                key = {"pk": {"S": f"MISSING#{which}#{n}"}, "sk": {"S": "X"}}
                db.get_item(TableName=registry.table.name, Key=key)
            except Exception:
                errors.append(traceback.format_exc())
                return

    def writer(which: int) -> None:
        try:
            for n in range(ROUNDS * 3):
                item = {"pk": {"S": f"TX#{which}"}, "sk": {"S": f"R#{n}"}}
                other = {"pk": {"S": f"TX#{which}"}, "sk": {"S": f"H#{n}"}}
                db.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": registry.table.name, "Item": item}},
                        {"Put": {"TableName": registry.table.name, "Item": other}},
                    ]
                )
        except Exception:
            errors.append(traceback.format_exc())

    readers = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    writers = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in [*readers, *writers]:
            thread.start()
        for thread in writers:
            thread.join()
        done.set()
        for thread in readers:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == [], errors[0]
    # Nothing lost: every transaction's two items are there, and the table still takes conditional writes.
    stored = db.query(
        TableName=registry.table.name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "TX#0"}},
    )["Items"]
    assert len(stored) == ROUNDS * 3 * 2
