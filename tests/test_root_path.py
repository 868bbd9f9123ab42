"""A request's path below the point a parent app mounted the service at."""

from __future__ import annotations

import pytest

from service.root_path import mounted, route_path


@pytest.mark.parametrize(
    ("path", "root_path", "seen"),
    [
        ("/livez", "", "/livez"),
        ("/jobs/livez", "/jobs", "/livez"),
        ("/jobs/", "/jobs", "/"),
        ("/jobs", "/jobs", "/"),
        ("/a/b/api/jobs", "/a/b", "/api/jobs"),
        ("/jobsx/livez", "/jobs", "/jobsx/livez"),  # a sibling path, not below the mount point
        ("/livez", "/jobs", "/livez"),  # a server that strips root_path from path itself
    ],
)
def test_route_path_is_the_path_below_the_mount_point(path, root_path, seen):
    assert route_path({"path": path, "root_path": root_path}) == seen


def test_route_path_without_a_root_path_is_the_path():
    assert route_path({"path": "/api/jobs"}) == "/api/jobs"


@pytest.mark.parametrize(
    ("root_path", "url"),
    [("", "/api/jobs/etl"), ("/jobs", "/jobs/api/jobs/etl"), ("/jobs/", "/jobs/api/jobs/etl")],
)
def test_mounted_links_start_with_the_mount_point(root_path, url):
    assert mounted({"root_path": root_path}, "/api/jobs/etl") == url
