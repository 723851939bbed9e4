"""The registry's DynamoDB attribute mapping agrees with boto3's, which it replaces on the cold path."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from mlops.dynamodb_types import deserialize, serialize

VALUES: list[Any] = [
    None,
    True,
    0,
    -17,
    10**30,
    Decimal("3.14"),
    "",
    "text with ünïcode",
    b"\x00bytes",
    [1, "a", None, [True]],
    {"doc": "{}", "n": 3, "nested": {"list": ["x"]}},
    {"a", "b"},
    {1, 2},
    {b"x", b"y"},
    set(),
]


@pytest.mark.parametrize("value", VALUES)
def test_serialize_and_deserialize_match_boto3(value: Any) -> None:
    ours, theirs = serialize(value), TypeSerializer().serialize(value)
    assert ours == theirs
    assert deserialize(ours) == TypeDeserializer().deserialize(theirs)


@pytest.mark.parametrize("value", [1.5, float("nan"), {1, "a"}, object()])
def test_what_dynamodb_cannot_store_is_refused_like_boto3(value: Any) -> None:
    with pytest.raises(TypeError):
        TypeSerializer().serialize(value)
    with pytest.raises(TypeError):
        serialize(value)
