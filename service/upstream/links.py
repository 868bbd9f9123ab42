"""Links Databricks sends (`run_page_url`), passed on only when they are http(s).

A run's `run_page_url` becomes a link a person clicks (the dashboard's "Open in Databricks"):
from a workspace, a proxy or a stub that is not what it should be, a `javascript:` or `data:`
URL there would run in the page's origin, held back by nothing but its Content-Security-Policy.
So before a reply is decoded, every `run_page_url` in it (the run's, each task's, at any
depth) that is not an absolute http(s) URL is removed, and what clients get is the reply
without it (a run without a link), never the URL.

Why a byte scan first: every run carries one of these links, and replies are relayed as the
bytes Databricks sent. A reply whose every `"run_page_url":` is followed by `"http://` or
`"https://` (as the Jobs API writes them) passes untouched; any other spelling is decoded and
checked one by one, and the reply re-encoded without the links that fail.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec

FIELD = "run_page_url"
_KEY = b'"run_page_url"'
_PLAIN = (b'"run_page_url":"https://', b'"run_page_url":"http://')
_SCHEMES = frozenset({"http", "https"})


def is_web_link(url: str) -> bool:
    """An absolute http(s) URL, as a browser will read it (it drops tabs and newlines)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in _SCHEMES and bool(parts.netloc)


def web_links_only(body: bytes) -> bytes:
    """`body` without any `run_page_url` that is not an http(s) URL (the same bytes if none)."""
    if body.count(_KEY) == sum(body.count(plain) for plain in _PLAIN):
        return body
    try:
        reply = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body  # not JSON: the reply's decoder says so
    return msgspec.json.encode(reply) if _drop_unsafe(reply) else body


def _drop_unsafe(value: object) -> bool:
    """Remove every non-http(s) `run_page_url` inside `value`; whether any was."""
    dropped = False
    if isinstance(value, dict):
        link = value.get(FIELD)
        if isinstance(link, str) and not is_web_link(link):
            del value[FIELD]
            dropped = True
        for item in value.values():
            dropped = _drop_unsafe(item) or dropped
    elif isinstance(value, list):
        for item in value:
            dropped = _drop_unsafe(item) or dropped
    return dropped
