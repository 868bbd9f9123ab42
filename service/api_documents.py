"""The API document as served: built once per view (the jobs a caller may view), kept encoded.

`/openapi.json` differs between callers only by the jobs they may view (a job they may not
view is not in it); everything else it is made of (the route table, the jobs' settings, the
version) is fixed for the app's life. So each view's document is built and encoded once, the
first time a caller with that view asks, and served as those bytes after: ~5 ms a call before
(building, then encoding ~100 KB), a dictionary lookup after.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import msgspec
from starlette.routing import BaseRoute

from service.config import JobSettings
from service.openapi import openapi_document

MAX_VIEWS = 16  # documents kept (~100 KB each with the demo's jobs), least recently used out


class ApiDocuments:
    """Each view's encoded document, at most `max_views` of them."""

    def __init__(self, version: str, *, max_views: int = MAX_VIEWS) -> None:
        self._version = version
        self._max = max_views
        self._encoded: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
        self.built = 0  # how many documents were built (a view seen again is not rebuilt)

    def encoded(
        self, routes: Sequence[BaseRoute], jobs: Mapping[str, JobSettings], *, server: str = ""
    ) -> bytes:
        """The document of `routes` and the viewable `jobs`, as JSON; `server` is the mount
        point's URL when the app is mounted below a path (the document's `servers` entry)."""
        view = (server, *jobs)  # in the settings' order: one tuple per set of jobs and mount
        body = self._encoded.get(view)
        if body is not None:
            self._encoded.move_to_end(view)
            return body
        document = openapi_document(routes, jobs, version=self._version)
        if server:  # mounted: the paths are below the mount point
            document["servers"] = [{"url": server}]
        body = msgspec.json.encode(document)
        self.built += 1
        self._encoded[view] = body
        while len(self._encoded) > self._max:
            self._encoded.popitem(last=False)
        return body
