"""Fixtures: only the few every test module needs; the rest are factories in factories.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from service.config import Settings
from tests.factories import make_client, make_settings, upstream_router


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def upstream() -> respx.MockRouter:
    return upstream_router()


@pytest.fixture
async def client(
    settings: Settings, upstream: respx.MockRouter
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(settings, upstream) as c:
        yield c
