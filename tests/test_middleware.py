"""Request context: the request id a client may choose, and the one it gets otherwise."""

from __future__ import annotations

import re

import pytest

FRESH_ID = re.compile(r"[0-9a-f]{24}")


@pytest.mark.parametrize(
    "request_id",
    ["req-1", "a.b:c_D-9", "0f8fad5b-d9cb-469f-a165-70867728950e", "x" * 128],
)
async def test_a_well_formed_request_id_is_kept(client, request_id):
    response = await client.get("/livez", headers={"x-request-id": request_id})
    assert response.headers["x-request-id"] == request_id


@pytest.mark.parametrize(
    "request_id",
    [b"a\x01b", b"a\x7fb", b"a\tb", b"a b", b"a/b", b"<script>", b"caf\xc3\xa9", b"x" * 129],
)
async def test_any_other_request_id_is_replaced_by_a_fresh_one(client, request_id):
    response = await client.get("/livez", headers=[(b"x-request-id", request_id)])
    assert FRESH_ID.fullmatch(response.headers["x-request-id"])
