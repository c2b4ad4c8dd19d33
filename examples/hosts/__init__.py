"""Host integrations of the payment-callback example, one module per host and mount style.

Each module builds its own :class:`~webhook_workflow.Engine` with
``examples/payment-callback.json`` and exposes the app a server runs (``app``, or
``application`` for Django). Every host keeps two routes of its own: ``GET /health`` and
``GET /webhook-url`` (the absolute webhook URL, from :func:`webhook_workflow.urls.webhook_url`).
Run them from the project folder, e.g. ``uvicorn examples.hosts.fastapi_app:app``.
"""

from pathlib import Path

#: The workflow every host example serves.
EXAMPLE = Path(__file__).resolve().parent.parent / "payment-callback.json"
