"""ASGI entry point: Django's application wrapped by the door.

Django's ASGI handler raises on lifespan events; the door answers them itself, so the
engine still starts at startup and is drained and closed at shutdown.

Run:  uvicorn examples.hosts.django_site.asgi:application
Webhook URL: http://127.0.0.1:8000/api/webhook:trigger/payment-callback
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from examples.hosts.django_site.hooks import engine
from webhook_workflow.asgi import WebhookMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.hosts.django_site.settings")

application = WebhookMiddleware(get_asgi_application(), engine=engine)
