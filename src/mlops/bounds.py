"""Bounds on what user input can make the stack store: pure functions, no dependencies.

A user decides how long a column name, a category, an S3 key or a request value is. Whatever reaches
a DynamoDB item, a key, a captured line or a drift column goes through one of these, so its size has a
limit that does not depend on the data: a message keeps its start, a long value becomes its start plus
a digest (distinct values stay distinct, equal values stay equal), a key part past its budget becomes
its digest.
"""

from __future__ import annotations

import hashlib
from typing import Any

MAX_MESSAGE_CHARS = 2_000
MAX_VALUE_CHARS = 256
MAX_KEY_PART_BYTES = 512
_ELLIPSIS = "…"
_DIGEST_CHARS = 16


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def bound_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A message of at most ``limit`` characters: its start, then an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS


def bound_value(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """A value of at most ``limit`` characters that still identifies the original.

    Longer values become ``<start>…#<16 hex of their sha256>``: the same long value always gives the
    same result, two different ones (almost surely) different results, and a bounded value is left as
    it is, so bounding twice changes nothing.
    """
    if len(text) <= limit:
        return text
    keep = limit - len(_ELLIPSIS) - 1 - _DIGEST_CHARS
    return f"{text[:keep]}{_ELLIPSIS}#{digest(text)[:_DIGEST_CHARS]}"


def bound_key_part(text: str, limit: int = MAX_KEY_PART_BYTES) -> str:
    """A key part (DynamoDB keys hold 1,024 bytes at most): itself, or ``sha256:<hex>`` past ``limit``."""
    return text if len(text.encode("utf-8", errors="surrogatepass")) <= limit else f"sha256:{digest(text)}"


def bound_row(values: dict[str, Any], limit: int = MAX_VALUE_CHARS) -> tuple[dict[str, Any], int]:
    """One captured row with every string value bounded: (the row, how many values were shortened)."""
    shortened = 0
    bounded: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, str) and len(value) > limit:
            value = bound_value(value, limit)
            shortened += 1
        bounded[name] = value
    return bounded, shortened


def bound_document(document: Any, max_items: int = 100, max_chars: int = 1_024) -> Any:
    """A JSON document with every string, list and object bounded (what a summary may hold)."""
    if isinstance(document, str):
        return bound_message(document, max_chars)
    if isinstance(document, list | tuple):
        return [bound_document(item, max_items, max_chars) for item in document[:max_items]]
    if isinstance(document, dict):
        return {
            bound_message(str(key), max_chars): bound_document(value, max_items, max_chars)
            for key, value in list(document.items())[:max_items]
        }
    return document
