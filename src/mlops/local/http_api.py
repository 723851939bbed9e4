"""The inference API on a local port: HTTP in, API Gateway REST proxy events out, as in the cloud.

``make_api_server(host, port, handler)`` returns a threaded HTTP/1.1 server; each request becomes the
event API Gateway's ``{proxy+}`` resource sends (version 1.0 payload: ``path`` still percent-encoded,
``pathParameters`` decoded, ``headers`` with the last value of each header and ``multiValueHeaders``
with all, the body as text or, when it is not UTF-8, base64 with ``isBase64Encoded``) and the
handler's response dict becomes the HTTP response. Connections are served in parallel; handler calls
are serialised, as one Lambda container runs one invocation at a time (Powertools' resolver keeps the
current event in shared state). The gateway's own errors are the deployed gateway's responses
(``mlops.serving.errors.GATEWAY_ERRORS``, in the routes' error shape): a body over 10 MB is
``REQUEST_TOO_LARGE`` (413), broken framing ``DEFAULT_4XX`` (400), a handler that raises or answers
with something that is not a proxy response ``DEFAULT_5XX`` (502), and one that answers after the
function's timeout ``INTEGRATION_TIMEOUT`` (504). The listen backlog holds ``LISTEN_BACKLOG``
connections, so a burst of clients connecting at once waits rather than being reset.

The caller runs ``serve_forever()`` in a thread and calls ``shutdown()`` then ``server_close()``.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from mlops.local.context import ACCOUNT, LocalContext
from mlops.observability import logger
from mlops.serving.errors import GatewayError, gateway_error

Handler = Callable[[dict[str, Any], Any], Any]
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
API_ID = "local"
MAX_DRAIN_BYTES = 64 * 1024 * 1024
LISTEN_BACKLOG = 128  # socketserver's default is 5: a burst of 32 clients got connection resets


def build_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
    source_ip: str = "127.0.0.1",
    stage: str = "local",
    request_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The API Gateway REST proxy event (payload 1.0) for one HTTP request."""
    now = now or datetime.now(UTC)
    request_id = request_id or str(uuid.uuid4())
    split = urlsplit(target)
    path = split.path or "/"
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    query_single: dict[str, str] = {}
    query_multi: dict[str, list[str]] = {}
    for name, value in parse_qsl(split.query, keep_blank_values=True):
        query_single[name] = value
        query_multi.setdefault(name, []).append(value)
    text: str | None = None
    encoded = False
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode("ascii"), True
    proxy = unquote(path.lstrip("/"))
    lower = {k.lower(): v for k, v in single.items()}
    return {
        "resource": "/{proxy+}" if proxy else "/",
        "path": path,
        "httpMethod": method,
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": query_single or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": {"proxy": proxy} if proxy else None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": "/{proxy+}" if proxy else "/",
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{path}",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": lower.get("host", "localhost").split(":")[0].split(".")[0],
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": lower.get("user-agent"),
                "user": None,
            },
            "domainName": lower.get("host", "localhost"),
            "apiId": API_ID,
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


def _response_parts(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body bytes of a proxy response dict; ValueError when it is not one."""
    if not isinstance(response, dict) or not isinstance(response.get("statusCode"), int):
        raise ValueError("The handler's answer is not an API Gateway proxy response.")
    headers: list[tuple[str, str]] = []
    multi = response.get("multiValueHeaders") or {}
    for name, values in multi.items():
        headers.extend((str(name), str(value)) for value in values)
    for name, value in (response.get("headers") or {}).items():
        if name not in multi:
            headers.append((str(name), str(value)))
    body = response.get("body") or ""
    if not isinstance(body, str):
        raise ValueError("The handler's response body is not a string.")
    data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode("utf-8")
    return int(response["statusCode"]), headers, data


_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}


def make_api_server(
    host: str,
    port: int,
    handler: Handler,
    *,
    stage: str = "local",
    function_name: str = "inference",
    memory_mb: int = 1024,
    timeout_s: float = 29.0,
    context_factory: Callable[[], Any] | None = None,
) -> ThreadingHTTPServer:
    """A server on ``host:port`` (port 0 picks a free one: read ``server.server_address``)."""
    invoke_lock = threading.Lock()

    def new_context() -> Any:
        if context_factory is not None:
            return context_factory()
        return LocalContext(function_name=function_name, memory_limit_in_mb=memory_mb, timeout_s=timeout_s)

    class ApiRequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "mlops-local-api"
        # Headers and body go out as separate writes; without TCP_NODELAY the second waits for the
        # client's delayed ACK (40 ms on Linux) on every keep-alive request.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("local API: " + format % args)

        def _send(
            self, status: int, headers: list[tuple[str, str]], body: bytes, close: bool = False
        ) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _read_body(self) -> bytes | None:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks: list[bytes] = []
                total = 0
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailer headers after the last chunk: read and dropped
                        break
                    total += size
                    if total > MAX_BODY_BYTES:
                        raise OverflowError
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError("negative Content-Length")
            if length > MAX_BODY_BYTES:
                # Read what the client sends before answering, so it gets the 413 instead of a broken
                # pipe; past MAX_DRAIN_BYTES the connection just closes after the answer.
                remaining = min(length, MAX_DRAIN_BYTES)
                while remaining > 0 and (piece := self.rfile.read(min(remaining, 1 << 16))):
                    remaining -= len(piece)
                raise OverflowError
            return self.rfile.read(length) if length else None

        def _send_gateway_error(self, error: GatewayError, status: int, close: bool = False) -> None:
            headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error.response_type)]
            self._send(error.status or status, headers, error.body().encode(), close)

        def _dispatch(self) -> None:
            try:
                body = self._read_body()
            except OverflowError:
                self._send_gateway_error(gateway_error("REQUEST_TOO_LARGE"), 413, close=True)
                return
            except ValueError:
                self._send_gateway_error(gateway_error("DEFAULT_4XX"), 400, close=True)
                return
            event = build_event(
                self.command,
                self.path,
                list(self.headers.items()),
                body,
                source_ip=self.client_address[0],
                stage=stage,
            )
            started = time.perf_counter()
            try:
                with invoke_lock:
                    called = time.monotonic()
                    response = handler(event, new_context())
                    late = time.monotonic() - called > timeout_s
                status, headers, data = _response_parts(response)
            except Exception:
                logger.exception("The inference handler failed", extra={"path": self.path})
                self._send_gateway_error(gateway_error("DEFAULT_5XX"), 502)
                return
            if late:  # the gateway stops waiting at the function's timeout
                self._send_gateway_error(gateway_error("INTEGRATION_TIMEOUT"), 504)
                return
            headers.append(("x-amzn-RequestId", event["requestContext"]["requestId"]))
            logger.debug(
                "local API request",
                extra={
                    "method": self.command,
                    "path": self.path,
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )
            self._send(status, headers, data)

        def __getattr__(self, name: str) -> Any:
            # Every method reaches the function, which answers the unknown ones (TRACE, PROPFIND...)
            # with its JSON 405 or 404 instead of http.server's HTML 501.
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

    server = _ApiServer((host, port), ApiRequestHandler)
    server.daemon_threads = True
    return server


class _ApiServer(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG


def base_url(server: ThreadingHTTPServer) -> str:
    """The server's base URL."""
    host, port = server.server_address[:2]
    return f"http://{host if isinstance(host, str) else host.decode()}:{port}"
