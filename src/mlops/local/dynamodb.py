"""A Query for moto's DynamoDB that reads one partition, as DynamoDB does.

moto 5.2's ``Table.query`` starts from ``Table.all_items()``, which sorts every item of the table,
then keeps the queried partition (or index key) and sorts the matches again by their own keys. Its
cost grows with the whole table, so on a stack with a thousand runs every console page and pipeline
lookup paid for all of them. While a query runs, ``all_items`` here returns the queried partition
alone (a table query) or every item unsorted (an index query); moto's own filtering and ordering of
the matches are unchanged, so results, order and pagination are the same. Scan is untouched.

DynamoDB applies each write and each transaction atomically; moto checks a condition and then writes,
so two threads can both pass the same condition. Writes here hold one lock, so a conditional write
that loses a race fails as it does on AWS (the registry's alias and run guards rely on it). Reads hold
it too: moto's GetItem of a missing key adds an empty partition to the table's dict, and a transaction
deep-copies the table to roll back, so a read racing a transaction (the local HTTP server's threads,
a function running beside the pipeline) failed it with "dictionary changed size during iteration".
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_state = threading.local()
_originals: dict[str, Callable[..., Any]] = {}
_locked_originals: dict[str, Callable[..., Any]] = {}
_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_READS = ("get_item", "query", "scan", "batch_get_item", "transact_get_items")
_lock = threading.RLock()


def _atomic(method: Callable[..., Any]) -> Callable[..., Any]:
    def write(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return method(*args, **kwargs)

    return write


def _all_items(self: Any) -> list[Any]:
    partition = getattr(_state, "partition", None)
    if partition is None:
        return list(_originals["all_items"](self))
    if partition is _ANY:
        groups = list(self.items.values())
    else:
        found = self.items.get(partition[0])
        groups = [] if found is None else [found]
    if not self.range_key_attr:
        return groups
    return [item for group in groups for item in group.values()]


_ANY = object()


def _query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    index = kwargs.get("index_name") or (args[6] if len(args) > 6 else None)
    previous = getattr(_state, "partition", None)
    _state.partition = _ANY if index or hash_key is None else (hash_key,)
    try:
        return _originals["query"](self, hash_key, *args, **kwargs)
    finally:
        _state.partition = previous


def install() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if _originals:
        return
    for name in (*_WRITES, *_READS):
        _locked_originals[name] = getattr(DynamoDBBackend, name)
        setattr(DynamoDBBackend, name, _atomic(_locked_originals[name]))
    _originals["all_items"], _originals["query"] = Table.all_items, Table.query
    Table.all_items = _all_items  # type: ignore[method-assign]
    Table.query = _query  # type: ignore[method-assign]


def uninstall() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    for name, method in list(_locked_originals.items()):
        setattr(DynamoDBBackend, name, method)
        del _locked_originals[name]
    if _originals:
        Table.all_items = _originals.pop("all_items")  # type: ignore[method-assign]
        Table.query = _originals.pop("query")  # type: ignore[method-assign]
