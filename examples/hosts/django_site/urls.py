"""The Django project's own routes; the webhooks are not here (the door answers them)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from examples.hosts.django_site.hooks import engine
from webhook_workflow.urls import webhook_url


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "up"})


def url(request: HttpRequest) -> JsonResponse:
    scope = getattr(request, "scope", None)  # ASGIRequest keeps the ASGI scope
    if scope is not None:
        found = webhook_url(engine, "payment-callback", scope=scope)
    else:
        found = webhook_url(engine, "payment-callback", environ=request.META)
    return JsonResponse({"url": found})


urlpatterns = [
    path("health/", health),
    path("webhook-url/", url),
]
