"""A page on another origin cannot start a run through a visitor's browser."""

from __future__ import annotations

import json

import pytest
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from service.web.pages import STATIC
from tests.browser.conftest import Shots
from tests.browser.stack import served
from tests.e2e.servers import running

pytestmark = [pytest.mark.looptime(False), pytest.mark.asyncio(loop_scope="session")]
BODY = {"params": {"run_date": "2026-11-29"}}


def other_site(service_url: str) -> Starlette:
    """Another origin's pages: a form that posts to the service, and scripts that fetch it."""
    target = f"{service_url}/api/jobs/etl/run"
    # text/plain forms and no-cors fetches need no preflight: only the service can refuse them.
    name, _, value = json.dumps(BODY)[:-1].partition("2026")
    form = (
        f'<form method="POST" action="{target}" enctype="text/plain">'
        f"<input type=\"hidden\" name='{name}' value='2026{value}}}'>"
        "<button>Win a prize</button></form>"
    )
    scripts = f"""<script type="module">
      import {{ createClient }} from "/client.js";
      const client = createClient({{ baseUrl: "{service_url}", retries: 1, retryDelayMs: 10 }});
      window.viaClient = client.trigger("etl", {json.dumps(BODY["params"])}).then(
        (r) => ({{ runId: r.runId }}), (e) => ({{ status: e.status, code: e.code }}));
      window.viaNoCors = fetch("{target}", {{ method: "POST", mode: "no-cors",
        headers: {{ "Content-Type": "text/plain" }}, body: '{json.dumps(BODY)}' }})
        .then((r) => r.type, (e) => String(e));
    </script>"""

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(form if request.path_params["which"] == "form" else scripts)

    async def client_js(_request: Request) -> Response:
        # The page's own copy of client.js: the service's own copy would need CORS to load.
        text = (STATIC / "client.js").read_text()
        return Response(text, media_type="text/javascript")

    return Starlette(routes=[Route("/{which}.html", page), Route("/client.js", client_js)])


async def test_a_form_posted_from_another_origin_is_refused(browser, shots: Shots):
    async with served(speed=10) as s, running(other_site(s.url)) as elsewhere:
        page = await browser.new_page()
        await page.goto(f"{elsewhere}/form.html")
        with structlog.testing.capture_logs() as logs:
            async with page.expect_navigation():
                await page.get_by_role("button", name="Win a prize").click()
        await shots.take(page, "refused")
        body = json.loads(await page.locator("body").inner_text())
        assert s.emulator.runs == {}
    assert body["code"] == "CROSS_ORIGIN"
    assert [log["origin"] for log in logs if log["event"] == "request.cross_site_refused"] == [
        elsewhere
    ]


async def test_scripts_on_another_origin_cannot_trigger_a_run(browser):
    async with served(speed=10) as s, running(other_site(s.url)) as elsewhere:
        page = await browser.new_page()
        with structlog.testing.capture_logs() as logs:
            await page.goto(f"{elsewhere}/scripts.html")
            via_client = await page.evaluate("window.viaClient")
            via_no_cors = await page.evaluate("window.viaNoCors")
        assert s.emulator.runs == {}
    refused = [log for log in logs if log["event"] == "request.cross_site_refused"]
    # JSON needs a preflight the service does not grant: the browser never sends the POST.
    assert via_client == {"status": 0, "code": "NETWORK"}
    # A no-cors POST is sent, and refused by the service's cross-site guard (the page sees
    # nothing of the answer): no run reached the emulator.
    assert via_no_cors == "opaque"
    assert [log["origin"] for log in refused] == [elsewhere]
