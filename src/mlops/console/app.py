"""The console's request handling: routing, guards, the error edge, the layout.

The app is a plain function of a ``Request`` to a ``Response`` (no HTTP here; ``server`` adapts it),
so tests and the benchmark can drive it directly. Each section of the console (datasets, runs,
models, lineage, drift; rollouts and batch jobs when the stack has them) is a ``Section`` with its
navigation entry and routes; state-changing actions are ``Action``s confirmed on their own page.

Guards, because a local web server is reachable from any page the user's browser opens:
- the Host header must name this server (a DNS-rebinding page cannot read the console);
- every POST carries the per-process CSRF token from the console's own forms;
- the pages allow no script, frame or style from elsewhere (Content-Security-Policy).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from urllib.parse import unquote

from mlops.console.html import Html, layout, notice
from mlops.errors import MlopsError, NotFound
from mlops.observability import logger
from mlops.registry import Registry
from mlops.storage import Storage

PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
_MAX_FLASHES = 200


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    host: str = ""
    origin: str | None = None


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """What a page handler returns: the layout adds navigation, the title heading and notices."""

    title: str
    body: Html
    status: int = 200


@dataclass(frozen=True)
class Sources:
    """Where pages read from: the stack's registry and its buckets (the same adapters the CLI uses)."""

    registry: Registry
    storage: Storage
    stack: str
    endpoint: str


Handler = Callable[["Context", dict[str, str]], "Page | Response"]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = re.fullmatch(self.pattern, path)
        return None if found is None else {k: unquote(v) for k, v in found.groupdict().items()}


@dataclass(frozen=True)
class Section:
    """One entry of the navigation and the routes under it."""

    title: str
    href: str
    routes: tuple[Route, ...]


@dataclass
class Context:
    """One request as a handler sees it: the request, the stack, and the console's token."""

    request: Request
    sources: Sources
    csrf: str
    flash: Callable[[str], str]

    @property
    def registry(self) -> Registry:
        return self.sources.registry

    def param(self, name: str) -> str:
        value = self.request.form.get(name) or self.request.query.get(name)
        if not value:
            raise BadRequest(f"The request has no '{name}'.")
        return value

    def optional(self, name: str) -> str | None:
        return self.request.form.get(name) or self.request.query.get(name) or None


class BadRequest(MlopsError):
    """A request the console cannot act on (a missing or malformed parameter)."""


def redirect(location: str) -> Response:
    return Response(303, b"", headers={"Location": location})


class Console:
    def __init__(
        self, sources: Sources, sections: Sequence[Section], allowed_hosts: set[str] | None = None
    ) -> None:
        self.sources = sources
        self.sections = list(sections)
        self.csrf = secrets.token_urlsafe(32)
        self.allowed_hosts = allowed_hosts or set()
        self._flashes: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def nav(self) -> list[tuple[str, str]]:
        return [(s.title, s.href) for s in self.sections if s.title]

    def _remember(self, message: str) -> str:
        key = secrets.token_urlsafe(8)
        with self._lock:
            self._flashes[key] = message
            while len(self._flashes) > _MAX_FLASHES:
                self._flashes.popitem(last=False)
        return key

    def _recall(self, key: str | None) -> Html | None:
        if not key:
            return None
        with self._lock:
            message = self._flashes.pop(key, None)
        return notice(message) if message else None

    def handle(self, request: Request) -> Response:
        if self.allowed_hosts and request.host not in self.allowed_hosts:
            return _plain(421, "This console answers only to the address it was started on.")
        if request.path.startswith("/static/"):
            return _static(request.path.removeprefix("/static/"))
        if request.method == "POST" and not self._trusted_post(request):
            return _plain(403, "This form did not come from this console; reload the page and try again.")
        context = Context(request, self.sources, self.csrf, self._remember)
        for section in self.sections:
            for route in section.routes:
                params = route.match(request.method, request.path)
                if params is not None:
                    return self._run(route, context, params, section.href)
        return self._page(Page("Not found", notice(f"Nothing at {request.path}.", "error"), 404), "")

    def warm_up(self) -> None:
        """Render the first page once and discard it, so that a user's first request finds the page
        code loaded, the AWS clients made and their connections open (``mlops console`` calls this
        before it prints the URL); the S3 client the report and lineage pages use is made too."""
        host = next(iter(sorted(self.allowed_hosts)), "")
        self.handle(Request("GET", "/", host=host))
        _ = self.sources.storage.s3

    def _trusted_post(self, request: Request) -> bool:
        if not secrets.compare_digest(request.form.get("csrf", ""), self.csrf):
            return False
        if request.origin is None or not self.allowed_hosts:
            return True
        return request.origin.split("://", 1)[-1] in self.allowed_hosts

    def _run(self, route: Route, context: Context, params: dict[str, str], current: str) -> Response:
        try:
            result = route.handler(context, params)
        except NotFound as error:
            result = Page("Not found", notice(str(error), "error"), 404)
        except BadRequest as error:
            result = Page("Bad request", notice(str(error), "error"), 400)
        except MlopsError as error:
            result = Page("Refused", notice(str(error), "error"), 409)
        except Exception as error:  # the edge: a page that breaks says so, the server keeps serving
            logger.exception("Console page failed", extra={"path": context.request.path})
            result = Page("Something went wrong", notice(f"{type(error).__name__}: {error}", "error"), 500)
        if isinstance(result, Response):
            return result
        return self._page(result, current, self._recall(context.request.query.get("flash")))

    def _page(self, page: Page, current: str, flash: Html | None = None) -> Response:
        footer = f"stack {self.sources.stack} at {self.sources.endpoint}"
        document = layout(page.title, page.body, self.nav, current, footer, flash)
        return Response(page.status, document.encode("utf-8"), headers=_page_headers())


def _page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": PAGE_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",  # no-referrer would make form posts send Origin: null
        "Cache-Control": "no-store",
    }


def _plain(status: int, message: str) -> Response:
    return Response(status, message.encode("utf-8"), "text/plain; charset=utf-8")


def _static(name: str) -> Response:
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if "/" in name or suffix not in STATIC_TYPES:
        return _plain(404, "No such file.")
    asset = resources.files("mlops.console").joinpath("static", name)
    if not asset.is_file():
        return _plain(404, "No such file.")
    return Response(
        200,
        asset.read_bytes(),
        STATIC_TYPES[suffix],
        {"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
