"""The engine both ``wsgi.py`` and ``asgi.py`` serve (one per server process)."""

from __future__ import annotations

from examples.hosts import EXAMPLE
from webhook_workflow import Engine

engine = Engine()
engine.add_workflow(EXAMPLE)
