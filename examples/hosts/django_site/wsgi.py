"""WSGI entry point: Django's application wrapped by the door.

Run:  gunicorn examples.hosts.django_site.wsgi
Webhook URL: http://127.0.0.1:8000/api/webhook:trigger/payment-callback
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from examples.hosts.django_site.hooks import engine
from webhook_workflow.wsgi import WebhookMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.hosts.django_site.settings")

application = WebhookMiddleware(get_wsgi_application(), engine=engine)
