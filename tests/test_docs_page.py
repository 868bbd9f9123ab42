"""GET /docs: Swagger UI over /openapi.json, every file served by the service itself."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

import pytest

from service.docs_page import assets_dir


class Links(HTMLParser):
    """Every URL a page loads or links to: src and href attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls.extend(v for k, v in attrs if k in {"src", "href"} and v)


def links(html: str) -> list[str]:
    parser = Links()
    parser.feed(html)
    return parser.urls


async def test_the_page_loads_swagger_ui_from_the_service_only(client):
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    urls = links(response.text)
    assert urls == [
        "docs/assets/swagger-ui.css",
        "docs/assets/favicon-32x32.png",
        "docs/assets/swagger-ui-bundle.js",
    ]
    # Relative: it works at the root of a Databricks App; no scheme, host or CDN anywhere.
    assert not re.search(r"https?:|//", response.text.replace("</", ""))
    assert 'url: "openapi.json"' in response.text
    assert "validatorUrl: null" in response.text  # else the document goes to swagger.io


@pytest.mark.parametrize(
    ("url", "content_type"),
    [
        ("docs/assets/swagger-ui.css", "text/css; charset=utf-8"),
        ("docs/assets/favicon-32x32.png", "image/png"),
        ("docs/assets/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    ],
)
async def test_each_asset_of_the_page_is_served_from_the_installed_package(
    client, url, content_type
):
    response = await client.get(f"/{url}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == (assets_dir() / url.rsplit("/", 1)[-1]).read_bytes()


async def test_the_document_the_page_reads_is_served_beside_it(client):
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"] == "3.1.0"


async def test_the_bundled_swagger_ui_reads_openapi_3_1():
    """Swagger UI renders 3.1 documents from version 5 on (4 says the version is invalid)."""
    bundle = (assets_dir() / "swagger-ui-bundle.js").read_text(encoding="utf-8")
    assert "OpenAPI 3.1" in bundle or "openapi31" in bundle.lower()


async def test_an_unknown_asset_is_404(client):
    response = await client.get("/docs/assets/nope.js")
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/docs", "/docs/assets/swagger-ui-bundle.js"])
async def test_the_page_and_its_files_carry_the_dashboard_s_security_headers_and_no_framing(
    client, path
):
    dashboard = await client.get("/")
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == dashboard.headers["referrer-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy


async def test_the_policy_allows_the_page_s_one_inline_script_by_its_hash(client):
    response = await client.get("/docs")
    script = re.search(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script[1].encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}'" in response.headers["content-security-policy"]
