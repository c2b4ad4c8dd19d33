"""Django: a URL pattern sends ``ops/...`` to the console through a small view.

The view turns Django's request into a :class:`~webhook_workflow.console.ConsoleRequest`
and the console's answer into an ``HttpResponse``. It is exempt from Django's CSRF check:
the console checks its own CSRF token on every POST. Put the pattern in your ``urls.py``.

Run:  python -m django runserver --settings examples.console.django_urls
Console: http://127.0.0.1:8000/ops/
"""

from __future__ import annotations

from http.cookies import SimpleCookie

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from examples.console import EXAMPLE, console_token
from webhook_workflow import Engine
from webhook_workflow.console import Console, ConsoleRequest

if not settings.configured:  # a whole site in one file, for the example
    settings.configure(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], DEBUG=False,
                       SECRET_KEY="example-only", MIDDLEWARE=[
                           "django.middleware.common.CommonMiddleware",
                           "django.middleware.csrf.CsrfViewMiddleware"])

engine = Engine(base_path="")
engine.add_workflow(EXAMPLE)
console = Console(engine, token=console_token())


@csrf_exempt
def console_view(request: HttpRequest, rest: str = "") -> HttpResponse:
    answer = console.handle(ConsoleRequest(
        method=request.method or "GET", path="/" + rest,
        query=request.META.get("QUERY_STRING", ""), headers=request.headers,
        body=request.body, root=request.path[: len(request.path) - len(rest) - 1].rstrip("/"),
        secure=request.is_secure()))
    response = HttpResponse(answer.body, status=answer.status)
    for name, value in answer.headers:
        if name.lower() == "set-cookie":  # one response may set two cookies
            response.cookies.load(SimpleCookie(value))
        else:
            response[name] = value
    return response


urlpatterns = [re_path(r"^ops/(?P<rest>.*)$", console_view)]
