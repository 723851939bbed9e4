"""HTML building blocks: escaping by default, tables, badges, the page layout.

Text is escaped unless it is ``Html`` (markup built here), so a dataset name or an error message
from the stack can never become markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from urllib.parse import quote, urlencode

from mlops.cli import render


class Html(str):
    """Markup that is safe to emit as is."""

    __slots__ = ()


def h(value: object) -> Html:
    """``value`` as markup: Html passes through, anything else is rendered as text and escaped."""
    if isinstance(value, Html):
        return value
    return Html(escape(render.cell(value), quote=True))


def join(parts: Iterable[object], sep: str = "") -> Html:
    return Html(sep.join(h(p) for p in parts))


def attr(value: object) -> str:
    return escape(str(value), quote=True)


def path(*segments: object, query: dict[str, object] | None = None) -> str:
    """A URL path from segments, each percent-encoded (a model may be named ``a/b``)."""
    url = "/" + "/".join(quote(str(s), safe="") for s in segments)
    kept = {k: str(v) for k, v in (query or {}).items() if v is not None}
    return f"{url}?{urlencode(kept)}" if kept else url


def link(href: str, text: object, label: str | None = None) -> Html:
    aria = f' aria-label="{attr(label)}"' if label else ""
    return Html(f'<a href="{attr(href)}"{aria}>{h(text)}</a>')


def badge(status: str) -> Html:
    """A status as a coloured label (the text says it too, so colour is never the only cue)."""
    css = status.lower().replace(" ", "-").replace("_", "-")
    return Html(f'<span class="badge s-{attr(css)}">{h(status)}</span>')


def when(value: datetime | str | None) -> Html:
    if value is None:
        return h(None)
    text = render.timestamp(value)
    iso = value.isoformat() if isinstance(value, datetime) else value
    return Html(f'<time datetime="{attr(iso)}">{h(text)}</time>')


def table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], caption: str, empty: str = "Nothing yet."
) -> Html:
    body = [f"<tr>{''.join(f'<td>{h(c)}</td>' for c in row)}</tr>" for row in rows]
    if not body:
        return Html(f'<p class="empty">{h(empty)}</p>')
    head = "".join(f'<th scope="col">{h(c)}</th>' for c in headers)
    return Html(
        f'<div class="scroll"><table><caption>{h(caption)}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def fields(pairs: Iterable[tuple[str, object]]) -> Html:
    """A definition list of the pairs whose value is not None."""
    items = [f"<dt>{h(k)}</dt><dd>{h(v)}</dd>" for k, v in pairs if v is not None]
    return Html(f'<dl class="fields">{"".join(items)}</dl>')


def section(title: str, *content: object, anchor: str | None = None) -> Html:
    ident = f' id="{attr(anchor)}"' if anchor else ""
    return Html(f"<section{ident}><h2>{h(title)}</h2>{join(content)}</section>")


def pager(base: str, cursor: str | None, label: str = "Older") -> Html:
    """The link to the next page of a paginated list (DynamoDB's cursor, carried in the URL)."""
    if not cursor:
        return Html("")
    sep = "&" if "?" in base else "?"
    return Html(
        f'<p class="pager"><a href="{attr(base + sep + urlencode({"after": cursor}))}">{h(label)} →</a></p>'
    )


def form(action: str, fields_: dict[str, object], button: str, token: str, cls: str = "") -> Html:
    hidden = "".join(
        f'<input type="hidden" name="{attr(k)}" value="{attr(v)}">'
        for k, v in fields_.items()
        if v is not None
    )
    return Html(
        f'<form method="post" action="{attr(action)}" class="inline {attr(cls)}">'
        f'<input type="hidden" name="csrf" value="{attr(token)}">{hidden}'
        f'<button type="submit">{h(button)}</button></form>'
    )


def layout(
    title: str,
    body: Html,
    nav: Sequence[tuple[str, str]],
    current: str,
    footer: str,
    flash: Html | None = None,
) -> Html:
    here = ' aria-current="page"'
    items = "".join(
        f'<li><a href="{attr(href)}"{here if href == current else ""}>{h(text)}</a></li>'
        for text, href in nav
    )
    return Html(
        "<!DOCTYPE html>"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{h(title)} · mlops console</title>"
        '<link rel="stylesheet" href="/static/console.css"></head><body>'
        '<a class="skip" href="#main">Skip to content</a>'
        '<header class="top"><nav aria-label="Sections"><a class="brand" href="/">mlops console</a>'
        f"<ul>{items}</ul></nav></header>"
        f'<main id="main" tabindex="-1"><h1>{h(title)}</h1>{flash or ""}{body}</main>'
        f'<footer class="foot">{h(footer)}</footer></body></html>'
    )


def notice(message: str, kind: str = "ok") -> Html:
    role = "status" if kind == "ok" else "alert"
    return Html(f'<div class="notice {attr(kind)}" role="{role}">{h(message)}</div>')
