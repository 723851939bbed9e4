"""DynamoDB attribute values to and from Python values, without importing boto3.

The same mapping as ``boto3.dynamodb.types`` (numbers in, ``Decimal`` out; no floats, whose binary
value DynamoDB cannot store exactly), for the types the registry stores. Importing boto3 for its two
classes costs the inference function's cold start its resource layer and s3transfer
(bench/bench_inference.py measures the cold start).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# DynamoDB's number limits (38 digits of precision), trapping what boto3 traps.
_CONTEXT = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


def _number(value: int | Decimal) -> str:
    text = str(_CONTEXT.create_decimal(value))
    if text in {"Infinity", "-Infinity", "NaN", "sNaN"}:
        raise TypeError(f"DynamoDB cannot store the number {text}.")
    return text


def serialize(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value (``{"S": ...}``, ``{"N": ...}``, ...)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": _number(value)}
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Set):
        items = list(value)
        if all(isinstance(v, int | Decimal) and not isinstance(v, bool) for v in items):
            return {"NS": [_number(v) for v in items]}  # an empty set too, as boto3 has it
        if all(isinstance(v, str) for v in items):
            return {"SS": items}
        if all(isinstance(v, bytes | bytearray) for v in items):
            return {"BS": [bytes(v) for v in items]}
        raise TypeError("A set must hold only strings, only numbers or only bytes.")
    if isinstance(value, Mapping):
        return {"M": {str(k): serialize(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [serialize(v) for v in value]}
    raise TypeError(f"Unsupported type {type(value).__name__} for a DynamoDB attribute value.")


def deserialize(attribute: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute value as a Python value (numbers as ``Decimal``)."""
    if len(attribute) != 1:
        raise TypeError("A DynamoDB attribute value has exactly one type key.")
    kind, value = next(iter(attribute.items()))
    if kind == "NULL":
        return None
    if kind in {"S", "BOOL"}:
        return value
    if kind == "N":
        return _CONTEXT.create_decimal(value)
    if kind == "B":
        return bytes(value)
    if kind == "SS":
        return set(value)
    if kind == "NS":
        return {_CONTEXT.create_decimal(v) for v in value}
    if kind == "BS":
        return {bytes(v) for v in value}
    if kind == "L":
        return [deserialize(v) for v in value]
    if kind == "M":
        return {k: deserialize(v) for k, v in value.items()}
    raise TypeError(f"Unknown DynamoDB attribute type {kind!r}.")


class TypeSerializer:
    """``boto3.dynamodb.types.TypeSerializer``'s interface."""

    def serialize(self, value: Any) -> dict[str, Any]:
        return serialize(value)


class TypeDeserializer:
    """``boto3.dynamodb.types.TypeDeserializer``'s interface."""

    def deserialize(self, value: Mapping[str, Any]) -> Any:
        return deserialize(value)
