"""The console's edge without AWS: guards, routing, escaping, the error edge, charts, page cursors."""

from __future__ import annotations

import base64
import re

import pytest

from mlops.console import charts
from mlops.console.app import Console, Context, Page, Request, Route, Section, Sources
from mlops.console.html import Html, h, path
from mlops.errors import Conflict, NotFound
from mlops.registry import Registry
from mlops.registry.table import decode_cursor, encode_cursor
from mlops.storage import Storage

HOST = "127.0.0.1:8090"


def echo(ctx: Context, params: dict[str, str]) -> Page:
    return Page(f"Hello {params['name']}", h(ctx.optional("q") or ""))


def refuse(ctx: Context, params: dict[str, str]) -> Page:
    raise Conflict("The production alias of 'm' moved concurrently; try again.")


def missing(ctx: Context, params: dict[str, str]) -> Page:
    raise NotFound("No model named 'x'.")


def broken(ctx: Context, params: dict[str, str]) -> Page:
    raise RuntimeError("a bug")


def post(ctx: Context, params: dict[str, str]) -> Page:
    return Page("Done", Html("<p>done</p>"))


@pytest.fixture
def console() -> Console:
    routes = (
        Route("GET", "/hello/(?P<name>[^/]+)", echo),
        Route("GET", "/refuse", refuse),
        Route("GET", "/missing", missing),
        Route("GET", "/broken", broken),
        Route("POST", "/do", post),
    )
    sources = Sources(Registry("unused-table"), Storage(), "MlopsStack", "http://127.0.0.1:4566")
    return Console(sources, [Section("Test", "/hello", routes)], allowed_hosts={HOST})


def get(console: Console, target: str, host: str = HOST) -> tuple[int, str]:
    path_, _, query = target.partition("?")
    params = dict(pair.split("=", 1) for pair in query.split("&") if pair)
    response = console.handle(Request("GET", path_, query=params, host=host))
    return response.status, response.body.decode()


def test_pages_escape_what_they_show(console: Console) -> None:
    status, body = get(console, "/hello/%3Cscript%3E?q=<img src=x onerror=alert(1)>")
    assert status == 200
    assert "<script>" not in body and "&lt;script&gt;" in body
    assert "<img" not in body and "&lt;img src=x onerror=alert(1)&gt;" in body


def test_only_the_console_own_host_is_answered(console: Console) -> None:
    status, _ = get(console, "/hello/x", host="evil.example:8090")
    assert status == 421  # a DNS-rebinding page cannot read the console
    assert get(console, "/hello/x")[0] == 200


def test_posts_need_the_console_token_and_origin(console: Console) -> None:
    def send(form: dict[str, str], origin: str | None) -> int:
        return console.handle(Request("POST", "/do", form=form, host=HOST, origin=origin)).status

    assert send({}, None) == 403
    assert send({"csrf": "guess"}, f"http://{HOST}") == 403
    assert send({"csrf": console.csrf}, "http://evil.example") == 403
    assert send({"csrf": console.csrf}, "null") == 403
    assert send({"csrf": console.csrf}, f"http://{HOST}") == 200


def test_errors_become_pages_and_the_console_keeps_serving(console: Console) -> None:
    status, body = get(console, "/missing")
    assert status == 404 and "No model named &#x27;x&#x27;." in body
    status, body = get(console, "/refuse")
    assert status == 409 and "moved concurrently; try again." in body
    status, body = get(console, "/broken")
    assert status == 500 and "RuntimeError: a bug" in body
    assert get(console, "/hello/after")[0] == 200
    status, body = get(console, "/nowhere")
    assert status == 404 and "Nothing at /nowhere." in body


def test_pages_forbid_scripts_and_foreign_resources(console: Console) -> None:
    response = console.handle(Request("GET", "/hello/x", host=HOST))
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "frame-ancestors 'none'" in policy


def test_static_assets_ship_in_the_package(console: Console) -> None:
    response = console.handle(Request("GET", "/static/console.css", host=HOST))
    assert response.status == 200 and b"--ink" in response.body
    assert console.handle(Request("GET", "/static/../app.py", host=HOST)).status == 404
    assert console.handle(Request("GET", "/static/missing.css", host=HOST)).status == 404


def test_url_segments_are_encoded() -> None:
    assert path("models", "a/b", "versions", 3) == "/models/a%2Fb/versions/3"
    assert (
        path("actions", "promote", query={"model": "m&x", "version": 2})
        == "/actions/promote?model=m%26x&version=2"
    )


def test_page_cursors_round_trip_and_reject_forgeries() -> None:
    key = {"pk": {"S": "RUN#r1"}, "sk": {"S": "RUN"}, "gsi1pk": {"S": "RUNS"}, "gsi1sk": {"S": "2025#r1"}}
    cursor = encode_cursor(key)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    assert decode_cursor(cursor) == {"pk": "RUN#r1", "sk": "RUN", "gsi1pk": "RUNS", "gsi1sk": "2025#r1"}
    with pytest.raises(NotFound, match="not valid any more"):
        decode_cursor("not-a-cursor!")
    with pytest.raises(NotFound):
        decode_cursor(base64.urlsafe_b64encode(b'{"pk": 1}').decode())


def test_nice_ceiling() -> None:
    assert [charts.nice_ceiling(v) for v in (0.07, 0.1, 0.3, 3.2, 7, 0, float("nan"))] == [
        0.1,
        0.1,
        0.5,
        5,
        10,
        1.0,
        1.0,
    ]


def test_gantt_draws_each_stage_and_marks_the_failed_one() -> None:
    bars = [
        charts.Bar("ingest", 0.0, 0.4, "SUCCEEDED"),
        charts.Bar("validation", 0.5, 0.9, "FAILED"),
    ]
    svg = charts.gantt([charts.GanttRow("run 1", "/runs/r1", bars, note="failed at validation")], "Runs")
    rects = re.findall(r'<rect x="[^"]+" y="[^"]+" width="[^"]+" height="[^"]+" fill="([^"]+)">', svg)
    assert rects == [charts.STAGE_COLORS["ingest"], charts.DRIFT_COLOR]
    assert 'role="group"' in svg and 'href="/runs/r1"' in svg and "failed at validation" in svg
    assert "validation: FAILED, 0.4s" in svg


def test_quantile_histogram_keeps_each_bins_share() -> None:
    stats = {
        "min": 0.0,
        "max": 100.0,
        "quantiles": {
            "p01": 1.0,
            "p05": 5.0,
            "p25": 25.0,
            "p50": 50.0,
            "p75": 75.0,
            "p95": 95.0,
            "p99": 99.0,
        },
    }
    svg = charts.quantile_histogram("x", stats)
    assert svg is not None
    shares = re.findall(r"<title>([\d.]+)% of rows between", svg)
    assert [float(s) for s in shares] == [1, 4, 20, 25, 25, 20, 4, 1]
    heights = [float(v) for v in re.findall(r'height="([\d.]+)" fill', svg)]
    assert max(heights) - min(heights) < 0.5  # uniform data: every bin equally dense
    assert charts.quantile_histogram("empty", {"min": None, "max": None, "quantiles": {}}) is None


def test_lineage_graph_links_what_has_a_page() -> None:
    svg = charts.lineage_graph(
        [charts.Node("raw file", "a.csv"), charts.Node("run", "r1", href="/runs/r1")],
        [("drift reports", [charts.Node("drift report", "DRIFT", href="/drift/m/reports/t", tone="bad")])],
        "Lineage",
    )
    assert svg.count("<a ") == 2 and 'aria-label="run r1"' in svg and charts.DRIFT_COLOR in svg


def test_warm_up_renders_the_first_page_as_a_user_request_would(console: Console) -> None:
    hosts: list[str] = []

    def first_page(ctx: Context, params: dict[str, str]) -> Page:
        hosts.append(ctx.request.host)
        return Page("Overview", Html(""))

    console.sections.append(Section("", "/", (Route("GET", "/", first_page),)))
    console.warm_up()
    assert hosts == [HOST]  # through the Host guard, so the page really rendered
