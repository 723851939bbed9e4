"""The console over HTTP: the standard library's threaded server around ``Console.handle``.

``make_console_server(console, host, port)`` binds (port 0: any free port), tells the console which
Host headers name it, and returns the server; the caller runs ``serve_forever()`` and later
``shutdown()`` and ``server_close()``.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from mlops.console.app import Console, Request, Response
from mlops.local.http_api import base_url
from mlops.observability import logger

MAX_FORM_BYTES = 64 * 1024


def _first(pairs: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in pairs:
        values.setdefault(name, value)
    return values


def make_console_server(console: Console, host: str = "127.0.0.1", port: int = 8090) -> ThreadingHTTPServer:
    class ConsoleHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "mlops-console"

        def do_GET(self) -> None:
            self._serve("GET", b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_FORM_BYTES:
                self._send(Response(413, b"Form too large.", "text/plain; charset=utf-8"))
                self.close_connection = True
                return
            self._serve("POST", self.rfile.read(length) if length else b"")

        def _serve(self, method: str, body: bytes) -> None:
            split = urlsplit(self.path)
            form = {}
            if body and self.headers.get_content_type() == "application/x-www-form-urlencoded":
                form = _first(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            request = Request(
                method=method,
                path=split.path or "/",
                query=_first(parse_qsl(split.query, keep_blank_values=True)),
                form=form,
                host=self.headers.get("Host", ""),
                origin=self.headers.get("Origin"),
            )
            self._send(console.handle(request))

        def _send(self, response: Response) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("console " + format % args)

    server = ThreadingHTTPServer((host, port), ConsoleHandler)
    server.daemon_threads = True
    bound = int(server.server_address[1])
    names = {host, "localhost", "127.0.0.1"} if host in ("127.0.0.1", "localhost") else {host}
    console.allowed_hosts = {f"{name}:{bound}" for name in names}
    return server


__all__ = ["base_url", "make_console_server"]
