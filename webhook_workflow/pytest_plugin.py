"""The pytest fixtures of :mod:`webhook_workflow.testing`: an engine, its client, a fake clock.

``webhook_engine``, ``webhook_client`` and ``webhook_clock``.

pytest loads this module through the package's ``pytest11`` entry point (or with ``-p
webhook_workflow.pytest_plugin``); the package itself never imports it, so pytest stays an
optional dependency. The module holds no ``assert`` (PYTEST_DONT_REWRITE): it may be imported
before pytest's assertion rewriting starts without a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .clock import SYSTEM_CLOCK
from .engine import Engine
from .testing import FakeClock, WebhookClient

__all__ = ["DRAIN_TIMEOUT", "webhook_client", "webhook_clock", "webhook_engine",
           "webhook_engine_options"]

#: Seconds the teardown of ``webhook_engine`` waits for queued and running executions.
DRAIN_TIMEOUT = 10.0


@pytest.fixture
def webhook_engine_options() -> dict[str, Any]:
    """The keyword arguments of ``webhook_engine``'s ``Engine(...)``: none. Override this
    fixture (in a ``conftest.py`` or a test module) to give ``env``, ``base_path`` or
    settings."""
    return {}


@pytest.fixture
def webhook_clock() -> FakeClock:
    """A :class:`~webhook_workflow.testing.FakeClock`: time stands still until
    ``webhook_clock.advance(seconds)``. A test that asks for it and for ``webhook_engine``
    gets the engine on this clock, so delays, retry waits, callback timeouts, throttles and
    sync budgets elapse when the test advances it, at once."""
    return FakeClock()


@pytest.fixture
def webhook_engine(request: pytest.FixtureRequest,
                   webhook_engine_options: dict[str, Any]) -> Iterator[Engine]:
    """An :class:`~webhook_workflow.Engine` on the memory store, for one test; on the
    ``webhook_clock`` when the test asks for that fixture too (and the options give no
    ``clock``).

    At teardown it waits until no execution is queued or running (so an async run a test
    started has finished, and its errors show in this test), then closes; an execution still
    running after :data:`DRAIN_TIMEOUT` seconds is an error of the test's teardown.
    """
    options = dict(webhook_engine_options)
    if "webhook_clock" in request.fixturenames and "clock" not in options:
        options["clock"] = request.getfixturevalue("webhook_clock")
    engine = Engine(**options)
    yield engine
    # An engine no request or run has started has nothing to wait for: close it as it is.
    # On a fake clock, executions that wait for it (a throttle) stay queued: only runs in
    # progress are waited for.
    drained = True
    if engine.dispatcher.started:
        drained = (engine.drain(DRAIN_TIMEOUT) if engine.clock is SYSTEM_CLOCK
                   else engine.dispatcher.settle(DRAIN_TIMEOUT))
    engine.close(0 if not drained else DRAIN_TIMEOUT)
    if not drained:
        pytest.fail(f"webhook_engine: executions still queued or running after "
                    f"{DRAIN_TIMEOUT} s", pytrace=False)


@pytest.fixture
def webhook_client(webhook_engine: Engine) -> WebhookClient:
    """A :class:`~webhook_workflow.testing.WebhookClient` of ``webhook_engine``, through the
    WSGI door (``webhook_client.asgi`` for the ASGI one)."""
    return WebhookClient(webhook_engine)
