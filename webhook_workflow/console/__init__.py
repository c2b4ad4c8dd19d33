"""The operations console: executions, workflows and actions in a browser, inside the host app.

``Console(engine, *, authorize=None, token=None, title=None)``; mount ``.asgi`` or ``.wsgi``
under any prefix (docs/console.md).
"""

from __future__ import annotations

from .core import Console
from .request import ConsoleRequest

__all__ = ["Console", "ConsoleRequest"]
