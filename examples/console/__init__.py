"""The operations console mounted in each host, beside the payment-callback webhook.

Each module builds an engine with ``examples/payment-callback.json``, serves its webhooks at
``/hooks/...`` and the console at ``/ops/``. The console's token comes from the
``WEBHOOK_WORKFLOW_CONSOLE_TOKEN`` variable; without it the console answers 403 to everyone
(and says how to let someone in). Run them from the project folder, e.g. with
``export WEBHOOK_WORKFLOW_CONSOLE_TOKEN=$(openssl rand -hex 16)``, then
``uvicorn examples.console.starlette_mount:app``.
"""

import os
from pathlib import Path

#: The workflow every example serves.
EXAMPLE = Path(__file__).resolve().parent.parent / "payment-callback.json"


def console_token() -> str | None:
    """The console's token, from the environment (None: nobody may get in)."""
    return os.environ.get("WEBHOOK_WORKFLOW_CONSOLE_TOKEN") or None
