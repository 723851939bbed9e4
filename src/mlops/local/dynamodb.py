"""A Query for moto's DynamoDB that reads one partition, as DynamoDB does.

moto 5.2's ``Table.query`` starts from ``Table.all_items()``, which sorts every item of the table,
then keeps the queried partition (or index key) and sorts the matches again by their own keys. Its
cost grows with the whole table, so on a stack with a thousand runs every console page and pipeline
lookup paid for all of them. While a query runs, ``all_items`` here returns the queried partition
alone (a table query) or every item unsorted (an index query); moto's own filtering and ordering of
the matches are unchanged, so results, order and pagination are the same. Scan is untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_state = threading.local()
_originals: dict[str, Callable[..., Any]] = {}


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
    from moto.dynamodb.models.table import Table

    if _originals:
        return
    _originals["all_items"], _originals["query"] = Table.all_items, Table.query
    Table.all_items = _all_items  # type: ignore[method-assign]
    Table.query = _query  # type: ignore[method-assign]


def uninstall() -> None:
    from moto.dynamodb.models.table import Table

    if _originals:
        Table.all_items = _originals.pop("all_items")  # type: ignore[method-assign]
        Table.query = _originals.pop("query")  # type: ignore[method-assign]
