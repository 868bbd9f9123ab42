"""The `Allow` header of a 405: the methods of every route on the path, not the first's only.

Starlette answers a wrong method with the methods of the first route whose path matches; where
one path has a route per method (GET and DELETE of a run), that hides the others.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> str | None:
    """`GET, HEAD, DELETE`-style: every method the routes on this path take; None if none."""
    methods: list[str] = []
    for route in routes:
        if isinstance(route, Route) and route.methods and route.matches(scope)[0] != Match.NONE:
            methods.extend(m for m in sorted(route.methods) if m not in methods)
    return ", ".join(methods) or None
