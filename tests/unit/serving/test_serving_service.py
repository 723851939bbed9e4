"""Reading request bodies: JSON, base64, the payload limit, and the inputs that break JSON parsers."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from mlops.serving.errors import InvalidInput, PayloadTooLarge
from mlops.serving.service import load_json, read_body


def read_json(body: str | bytes | None, base64_encoded: bool, limit: int) -> Any:
    """The body as the routes read it: its size checked, then parsed."""
    return load_json(read_body(body, base64_encoded, limit))


def test_text_bytes_and_base64_bodies() -> None:
    assert read_json('{"a": 1}', False, 100) == {"a": 1}
    assert read_json(b'{"a": 1}', False, 100) == {"a": 1}
    assert read_json(base64.b64encode(b'{"a": [1]}').decode(), True, 100) == {"a": [1]}
    assert read_json('{"a": NaN}', False, 100)["a"] != 0  # NaN is read, and validated per feature later


@pytest.mark.parametrize(
    ("body", "encoded", "fragment"),
    [
        (None, False, "The request body is empty"),
        ("", False, "The request body is empty"),
        ("{", False, "not valid JSON: Expecting property name enclosed in double quotes at position 1"),
        ("[" * 100_000, False, "not valid JSON"),
        ("1" * 5000, False, "not valid JSON"),
        (b"\xff\xfe\x00", False, "not valid JSON"),
        ("%%%", True, "marked base64 but is not valid base64"),
        (base64.b64encode(b"\xc3\x28").decode(), True, "not valid JSON"),
    ],
)
def test_what_is_not_json_is_invalid_input(body: Any, encoded: bool, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_json(body, encoded, 1_000_000)
    assert fragment in str(caught.value)


def test_the_payload_limit_counts_bytes_of_the_decoded_body() -> None:
    text = json.dumps({"city": "é" * 30})  # 30 characters, 60 bytes in UTF-8
    assert read_json(text, False, len(text.encode())) == {"city": "é" * 30}
    with pytest.raises(
        PayloadTooLarge, match=f"The request body is {len(text.encode())} bytes; the limit is 50 bytes"
    ):
        read_json(text, False, 50)
    encoded = base64.b64encode(b'{"a": "' + b"x" * 100 + b'"}').decode()
    with pytest.raises(PayloadTooLarge, match="is 109 bytes"):
        read_json(encoded, True, 108)
