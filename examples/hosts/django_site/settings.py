"""Settings of the example Django project: no database, the usual middleware."""

from __future__ import annotations

SECRET_KEY = "example-only-not-secret"  # an example project: never deploy this key
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "examples.hosts.django_site.urls"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",  # APPEND_SLASH redirects
    "django.middleware.csrf.CsrfViewMiddleware",  # POSTs need a CSRF token
]
APPEND_SLASH = True
USE_TZ = True
