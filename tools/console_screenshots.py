"""Screenshots of each console page for docs/console.md, taken in the system's Chromium.

Run:  python tools/console_screenshots.py [OUT_DIR]     (default: docs/console)

It fills a memory engine with a few executions (resolved, failed, waiting for a callback),
serves the console with uvicorn on 127.0.0.1 and photographs every page through Playwright
driving /usr/bin/chromium (no browser is downloaded). The browser tests run :func:`shoot`
too, so the pictures show what the console really draws.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from webhook_workflow import Engine
from webhook_workflow.console import Console

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
TOKEN = "screenshot-token-0001"

ORDERS = {
    "key": "orders", "title": "Shop orders", "sync": False,
    "config": {"request": {"headers": [{"key": "X-Request-Id"}]},
               "idempotency": {"key": "{{$context.headers.X-Request-Id}}"}},
    "nodes": [
        {"key": "paid", "type": "condition", "title": "Paid?",
         "config": {"engine": "basic", "calculation": {"group": {"type": "and", "calculations": [
             {"calculator": "equal", "operands": ["{{$context.body.status}}", "paid"]}]}}},
         "branches": {
             "1": [{"key": "charge", "type": "charge", "title": "Charge the card"},
                   {"key": "receipt", "type": "json-query", "title": "Build the receipt",
                    "config": {"engine": "jsonata", "source": "{{$context.body}}",
                               "expression": "{'order': id, 'total': total}"}}],
             "0": [{"key": "unpaid", "type": "end", "title": "Not paid",
                    "config": {"endStatus": -1}}]}}]}
APPROVAL = {"key": "approval", "title": "Refund approval", "sync": False,
            "nodes": [{"key": "ask", "type": "callback", "title": "Wait for a manager",
                       "config": {"timeout": 3_600_000}}]}

_CARD = {"down": True}


def _charge(config: dict[str, Any], ctx: Any) -> dict[str, Any]:
    if _CARD["down"] and ctx.scope["$context"]["body"].get("card") == "4000":
        raise RuntimeError("card declined by the provider: 402 insufficient_funds")
    return {"charged": True, "amount": ctx.scope["$context"]["body"].get("total")}


def demo_engine() -> tuple[Engine, dict[str, str]]:
    """An engine with a few executions; the ids of the pages worth showing."""
    engine = Engine(workers=1)
    engine.register_node("charge", _charge)
    for definition in (ORDERS, APPROVAL):
        engine.add_workflow(definition)
    made: dict[str, str] = {}
    for n in range(6):
        body = {"id": f"A{100 + n}", "status": "paid" if n % 3 else "open", "total": 10 + n,
                "card": "4000" if n == 4 else "4242"}
        done = engine.execute("orders", {"body": body,
                                         "headers": {"X-Request-Id": f"req-{n}"}})
        made.setdefault("failed" if n == 4 else "resolved", done.id)
    made["waiting"] = engine.execute("approval", {"body": {"refund": 25}}).id
    return engine, made


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _served(app: Any) -> Iterator[str]:
    import uvicorn

    port = _port()

    async def mounted(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await app({**scope, "root_path": "/ops"}, receive, send)

    server = uvicorn.Server(uvicorn.Config(mounted, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/ops"
    finally:
        server.should_exit = True
        thread.join(10)


def shoot(browser: Any, out: Path) -> list[Path]:
    """Photograph every page into ``out``; the files written."""
    out.mkdir(parents=True, exist_ok=True)
    engine, ids = demo_engine()
    written: list[Path] = []
    try:
        with _served(Console(engine, token=TOKEN, title="Shop console").asgi) as base:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()

            def snap(name: str, url: str | None = None, full: bool = True) -> None:
                if url is not None:
                    page.goto(url)
                path = out / f"{name}.png"
                page.screenshot(path=str(path), full_page=full)
                written.append(path)

            snap("login", f"{base}/", full=False)
            page.fill("input[name=token]", TOKEN)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            snap("executions")
            snap("executions-failed", f"{base}/?status=error")
            snap("execution", f"{base}/executions/{ids['failed']}")
            snap("execution-waiting", f"{base}/executions/{ids['waiting']}")
            snap("retry", f"{base}/executions/{ids['failed']}/retry", full=False)
            snap("workflows", f"{base}/workflows", full=False)
            snap("workflow", f"{base}/workflows/orders")
            snap("recover", f"{base}/recover", full=False)
            context.close()
    finally:
        engine.close(timeout=5)
    return written


def main(argv: list[str]) -> int:
    """Take the screenshots into ``argv[0]`` (default docs/console)."""
    from playwright.sync_api import sync_playwright

    out = Path(argv[0]) if argv else ROOT / "docs" / "console"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        try:
            for path in shoot(browser, out):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
