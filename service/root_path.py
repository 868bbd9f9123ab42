"""Where the app is mounted: a request's path below the `root_path` a parent app mounted it at.

Served alone, `root_path` is empty and nothing changes. Mounted inside another ASGI app
(Starlette's `Mount`, FastAPI's `app.mount`, service.mount), `path` is the whole path and
`root_path` the mount point, so the checks that name paths (the public files, the quiet probes)
compare the path below it, and links the service hands out (`watchUrl`) start with it.
"""

from __future__ import annotations

from starlette.types import Scope


def route_path(scope: Scope) -> str:
    """The path the app's own routes see: `path` without the mount point in front of it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :] or "/"
    return path


def mounted(scope: Scope, path: str) -> str:
    """An app path (`/api/jobs/...`) as a client reaches it: below the mount point, if any."""
    root: str = scope.get("root_path", "")
    return root.rstrip("/") + path
