"""Tools for testing your own workflows: an in-process client, request signing, assertions.

:class:`WebhookClient` sends a request through the engine's WSGI or ASGI door in this
process (no server, no socket) and returns a :class:`WebhookResponse` that also knows the
execution the request started. :func:`sign_request` makes the headers of every signature
scheme the library verifies; :func:`assert_execution` compares an execution with what a test
expects and says every difference at once; :class:`FakeClock` makes the waits of runs
(delays, retries, timeouts) elapse when a test says so. Nothing here needs pytest; the
fixtures built on it live in :mod:`webhook_workflow.pytest_plugin`.
"""

from __future__ import annotations

from .checks import assert_execution
from .client import WebhookClient, WebhookResponse, json_body
from .clock import FakeClock
from .signing import sign_request

__all__ = ["FakeClock", "WebhookClient", "WebhookResponse", "assert_execution", "json_body",
           "sign_request"]
