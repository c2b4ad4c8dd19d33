"""A minimal Django project with the door in front of it, in ``wsgi.py`` and ``asgi.py``.

Settings: ``examples.hosts.django_site.settings`` (CSRF and ``APPEND_SLASH`` on, as in a new
project: webhook requests never reach them).
"""
