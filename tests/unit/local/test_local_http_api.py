"""HTTP requests as API Gateway REST proxy events, and proxy responses as HTTP."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from mlops.local.http_api import _response_parts, build_event
from tests.events import load_event

NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)


def test_an_event_has_the_shape_api_gateway_sends() -> None:
    sample = load_event("inference/predict_records")
    event = build_event(
        "POST",
        "/models/my%20model/predict?explain=1&tag=a&tag=b",
        [("Host", "localhost:8080"), ("X-Tag", "1"), ("X-Tag", "2"), ("User-Agent", "curl/8")],
        b'{"records": []}',
        stage="local",
        request_id="rid",
        now=NOW,
    )
    assert set(event) == set(sample)
    assert set(event["requestContext"]) == set(sample["requestContext"])
    assert set(event["requestContext"]["identity"]) == set(sample["requestContext"]["identity"])
    assert event["path"] == "/models/my%20model/predict"  # REST APIs pass the path still encoded
    assert event["pathParameters"] == {"proxy": "models/my model/predict"}
    assert event["resource"] == "/{proxy+}"
    assert event["queryStringParameters"] == {"explain": "1", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"explain": ["1"], "tag": ["a", "b"]}
    assert event["headers"]["X-Tag"] == "2"
    assert event["multiValueHeaders"]["X-Tag"] == ["1", "2"]
    assert event["body"] == '{"records": []}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert (context["requestId"], context["stage"], context["path"]) == (
        "rid",
        "local",
        "/local/models/my%20model/predict",
    )
    assert context["identity"]["userAgent"] == "curl/8"
    assert context["requestTimeEpoch"] == int(NOW.timestamp() * 1000)


def test_a_body_that_is_not_utf8_is_base64_and_no_body_is_null() -> None:
    event = build_event("POST", "/x", [], b"\xff\x00")
    assert (event["body"], event["isBase64Encoded"]) == (base64.b64encode(b"\xff\x00").decode(), True)
    empty = build_event("GET", "/", [], None)
    assert (empty["body"], empty["pathParameters"], empty["resource"], empty["headers"]) == (
        None,
        None,
        "/",
        None,
    )


def test_proxy_responses_become_status_headers_and_bytes() -> None:
    status, headers, body = _response_parts(
        {
            "statusCode": 405,
            "multiValueHeaders": {"Allow": ["GET"], "Set-Cookie": ["a=1", "b=2"]},
            "headers": {"Allow": "ignored", "X-One": "1"},
            "body": '{"error": "x"}',
            "isBase64Encoded": False,
        }
    )
    assert status == 405
    assert headers == [("Allow", "GET"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-One", "1")]
    assert body == b'{"error": "x"}'
    assert (
        _response_parts(
            {"statusCode": 200, "body": base64.b64encode(b"\x00").decode(), "isBase64Encoded": True}
        )[2]
        == b"\x00"
    )
    for broken in (None, {"body": "x"}, {"statusCode": "200"}, {"statusCode": 200, "body": {"a": 1}}):
        with pytest.raises(ValueError):
            _response_parts(broken)
