"""Who may use the console: ``authorize``, a Bearer token, a signed session cookie; CSRF tokens.

Nothing is allowed until access is configured. A request is let in when ``authorize(method,
path, headers)`` returns True, or when it carries the console's token as ``Authorization:
Bearer <token>``, or a session cookie the login form set after the token was typed. The
session cookie holds its expiry and an HMAC of it (no server-side state, so every process on
the store accepts it); it is ``HttpOnly``, ``SameSite=Strict``, ``Path`` the mount point, and
``Secure`` over HTTPS. Forms carry a CSRF token, the HMAC of a random value kept in a second
cookie; every POST must bring both (a Bearer request needs none: a browser cannot add that
header to a cross-site request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "SESSION_SECONDS", "Access", "Authorize", "Grant"]

SESSION_COOKIE = "webhook_workflow_console"
CSRF_COOKIE = "webhook_workflow_console_csrf"
#: How long a login lasts.
SESSION_SECONDS = 12 * 3600
#: Wrong tokens a client may type per window before the login form answers 429.
LOGIN_ATTEMPTS, LOGIN_WINDOW = 10, 60.0

#: ``authorize(method, path, headers) -> bool``: the host's own access rule.
Authorize = Callable[[str, str, Mapping[str, str]], bool]


@dataclass(frozen=True, slots=True)
class Grant:
    """How a request got in: ``"authorize"``, ``"bearer"`` or ``"session"``; None: it did not."""

    how: str | None

    @property
    def allowed(self) -> bool:
        """True when the request may see the console."""
        return self.how is not None


def cookies(header: str | None) -> dict[str, str]:
    """The cookies of a ``Cookie`` header (malformed ones ignored)."""
    if not header:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed cookie header is no session
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


class Access:
    """The access rules of one console."""

    def __init__(self, authorize: Authorize | None, token: str | None,
                 secret: Callable[[], bytes]) -> None:
        if token is not None and (not isinstance(token, str) or len(token) < 8):
            raise ValueError("token: give at least 8 characters (a long random string)")
        self.authorize = authorize
        self.token = token
        self._secret = secret
        self._key: bytes | None = None
        #: Wrong logins by client address: (count, window start). Guessing a long token
        #: is hopeless anyway; this keeps a script from trying fast.
        self._failures: dict[str, tuple[int, float]] = {}

    @property
    def configured(self) -> bool:
        """False when nobody can get in (neither ``authorize`` nor ``token``)."""
        return self.authorize is not None or self.token is not None

    @property
    def key(self) -> bytes:
        """What sessions and CSRF tokens are signed with: the store's shared secret and the
        token (a new token ends every session)."""
        if self._key is None:
            self._key = hashlib.sha256(b"webhook_workflow.console\0" + self._secret() + b"\0"
                                       + (self.token or "").encode("utf-8")).digest()
        return self._key

    def _sign(self, text: str) -> str:
        return hmac.new(self.key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def grant(self, method: str, path: str, headers: Mapping[str, str],
              jar: Mapping[str, str]) -> Grant:
        """Whether (and how) a request may see the console."""
        if self.token is not None:
            auth = headers.get("authorization") or ""
            scheme, _, credential = auth.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                    credential.strip().encode("utf-8"), self.token.encode("utf-8")):
                return Grant("bearer")
            if self.session_valid(jar.get(SESSION_COOKIE)):
                return Grant("session")
        if self.authorize is not None and self.authorize(method, path, headers):
            return Grant("authorize")
        return Grant(None)

    def check_token(self, typed: str) -> bool:
        """Whether ``typed`` (the login form's field) is the token."""
        return self.token is not None and hmac.compare_digest(typed.encode("utf-8"),
                                                              self.token.encode("utf-8"))

    def login_blocked(self, client: str | None) -> bool:
        """Whether ``client`` typed too many wrong tokens lately."""
        count, since = self._failures.get(client or "", (0, 0.0))
        return count >= LOGIN_ATTEMPTS and time.monotonic() - since < LOGIN_WINDOW

    def login_failed(self, client: str | None) -> None:
        """Count a wrong token typed by ``client``."""
        now = time.monotonic()
        if len(self._failures) > 10_000:  # bounded: forget the old windows
            self._failures = {k: v for k, v in self._failures.items()
                              if now - v[1] < LOGIN_WINDOW}
        count, since = self._failures.get(client or "", (0, now))
        if now - since >= LOGIN_WINDOW:
            count, since = 0, now
        self._failures[client or ""] = (count + 1, since)

    def new_session(self) -> str:
        """A session cookie's value: its expiry and signature."""
        expires = int(time.time()) + SESSION_SECONDS
        return f"{expires}.{self._sign(f'session:{expires}')}"

    def session_valid(self, value: str | None) -> bool:
        """Whether a session cookie's value is signed by us and not expired."""
        if not value or self.token is None:
            return False
        expires, _, signature = value.partition(".")
        if not expires.isdigit() or int(expires) < time.time():
            return False
        return hmac.compare_digest(signature, self._sign(f"session:{expires}"))

    def csrf_token(self, nonce: str) -> str:
        """The token forms carry for the CSRF cookie ``nonce``."""
        return self._sign(f"csrf:{nonce}")

    def csrf_valid(self, nonce: str | None, token: str | None) -> bool:
        """Whether a POST's token matches its CSRF cookie."""
        if not nonce or not token:
            return False
        return hmac.compare_digest(token, self.csrf_token(nonce))

    @staticmethod
    def new_nonce() -> str:
        """A CSRF cookie's random value."""
        return secrets.token_urlsafe(24)


def cookie_header(name: str, value: str, path: str, secure: bool, max_age: int | None) -> str:
    """A ``Set-Cookie`` value: HttpOnly, SameSite=Strict, scoped to the console's path."""
    parts = [f"{name}={value}", f"Path={path or '/'}", "HttpOnly", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)
