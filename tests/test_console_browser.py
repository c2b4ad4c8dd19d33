"""The console in a real browser: Playwright driving the system's Chromium (``/usr/bin/chromium``,
never a downloaded one) against uvicorn on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_support import FLAKY, HOSTILE, TOKEN, console_engine, ended, run, serving

from webhook_workflow import Engine, Status
from webhook_workflow.console import Console

CHROMIUM = os.environ.get("WEBHOOK_WORKFLOW_CHROMIUM", "/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)",
                allow_module_level=True)


def mounts(open_console: Console, closed: Console) -> Any:
    """``/ops``: the console with a token; ``/closed``: one without access configured."""
    apps = {"/ops": open_console.asgi, "/closed": closed.asgi}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        for prefix, inner in apps.items():
            if scope["type"] == "http" and (scope["path"] == prefix
                                            or scope["path"].startswith(prefix + "/")):
                await inner({**scope, "root_path": prefix}, receive, send)
                return
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    made = console_engine()
    yield made
    made.close(timeout=5)


@pytest.fixture(scope="module")
def base(engine: Engine) -> Iterator[str]:
    with serving(mounts(Console(engine, token=TOKEN), Console(engine)), "asgi") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    made = context.new_page()
    made.set_default_timeout(15_000)
    problems: list[str] = []
    # Script errors and CSP violations (an answer's status is no problem: 401 and 403 are
    # what some of these pages are about).
    made.on("console", lambda m: problems.append(m.text) if m.type == "error"
            and not m.text.startswith("Failed to load resource") else None)
    made.on("pageerror", lambda e: problems.append(str(e)))
    made.problems = problems
    yield made
    context.close()


def login(page: Any, base: str) -> None:
    page.goto(f"{base}/ops/")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/ops/")


def test_the_login_flow(page: Any, base: str) -> None:
    page.goto(f"{base}/ops/workflows")
    assert page.url.startswith(f"{base}/ops/login?next=")
    page.fill("input[name=token]", "not-the-token")
    page.click("button[type=submit]")
    assert "not the console's token" in page.inner_text("#login-error")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/ops/workflows")
    assert page.inner_text("h1") == "Workflows"
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["webhook_workflow_console"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    page.click("button:has-text('Log out')")
    page.wait_for_url(f"{base}/ops/login")
    assert page.problems == []


def test_403_without_access(page: Any, base: str) -> None:
    answer = page.goto(f"{base}/closed/")
    assert answer.status == 403
    assert "WEBHOOK_WORKFLOW_CONSOLE_TOKEN" in page.inner_text("main")
    assert page.goto(f"{base}/closed/api/executions").status == 403


def test_filter_open_a_failed_execution_retry_it_and_see_it_resolve(
        page: Any, base: str, engine: Engine) -> None:
    run(engine, "echo", {"fine": True})
    FLAKY["fail"] = True
    failed = run(engine, "orders", {"ok": True})
    assert failed.status == Status.ERROR
    login(page, base)
    assert page.locator("table#rows tbody tr").count() >= 2
    page.select_option("select[name=status]", "error")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/ops/?*status=error*")
    statuses = page.locator("table#rows tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.status)")
    assert statuses and set(statuses) == {"ERROR"}
    page.click(f"a[href='/ops/executions/{failed.id}']")
    assert "the payment provider is down" in page.inner_text("ol.jobs")
    assert page.locator("svg.waterfall g.job").count() == 2
    page.click("text=Retry from the failed node")
    FLAKY["fail"] = False
    try:
        page.click("button:has-text('Retry execution')")
        assert "goes on from the node that failed" in page.inner_text("#result")
        assert ended(engine, failed.id) == Status.RESOLVED
        page.click("text=Back to the execution")
        page.wait_for_selector("table.facts .badge.s-resolved")
    finally:
        FLAKY["fail"] = True
    assert "attempt 2" in page.inner_text("ol.jobs")
    assert page.problems == []


def test_live_refresh_shows_new_executions(page: Any, base: str, engine: Engine) -> None:
    login(page, base)
    before = page.locator("table#rows tbody tr").count()
    made = run(engine, "echo", {"live": True})
    page.wait_for_selector(f"a[href='/ops/executions/{made.id}']", timeout=12_000)
    assert page.locator("table#rows tbody tr").count() == before + 1


def test_hostile_payloads_stay_text(page: Any, base: str, engine: Engine) -> None:
    nested: Any = {"leaf": HOSTILE["attr"]}
    for _ in range(50):
        nested = {"n": nested}
    hostile = run(engine, "echo", {**HOSTILE, "nested": nested})
    login(page, base)
    page.goto(f"{base}/ops/executions/{hostile.id}")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main img").count() == 0
    assert page.locator("script").count() == 1  # the console's own, from /static
    text = page.inner_text("details.json:has-text('body') pre")
    assert HOSTILE["script"] in text and '"><img src=x onerror=' in text
    page.hover("details.json pre")
    assert page.evaluate("window.__pwned") is None
    assert page.problems == []


def test_screenshots_of_every_page(browser: Any, tmp_path: Path) -> None:
    """The documentation's screenshots script runs here, in the same browser."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    from console_screenshots import shoot

    written = shoot(browser, tmp_path)
    assert {p.name for p in written} >= {"executions.png", "execution.png", "workflows.png",
                                         "workflow.png", "login.png", "recover.png"}
    assert all(p.stat().st_size > 5000 for p in written)
