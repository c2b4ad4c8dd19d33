"""The console's sans-IO core: :class:`Console`, its access rules, routes and response headers.

:meth:`Console.handle` takes a :class:`~.request.ConsoleRequest` (plain values) and returns a
:class:`~webhook_workflow.http.response.CoreResponse`; ``.asgi`` and ``.wsgi`` only translate.
Every answer carries a Content-Security-Policy without ``unsafe-inline`` (scripts, styles and
pictures from the console itself only), ``X-Content-Type-Options: nosniff``, no framing, no
referrer (resume URLs in a page are credentials) and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from ..errors import StoreUnavailable
from ..http.guards import in_networks
from ..http.response import CoreResponse, error_response
from .actions import ACTIONS, do_action, do_recover, recover_form
from .api import api
from .auth import CSRF_COOKIE, SESSION_COOKIE, SESSION_SECONDS, Access, Authorize, cookie_header
from .auth import cookies as read_cookies
from .pages_execution import execution_page, not_found
from .pages_executions import executions_page
from .pages_workflows import workflow_page, workflows_page
from .render import Page, esc, html_response
from .request import ConsoleRequest, Ctx

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["CSP", "Console"]

logger = logging.getLogger("webhook_workflow.console")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
_SECURITY = [("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
             ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"),
             ("Cache-Control", "no-store")]
_STATIC = {"console.css": "text/css; charset=utf-8",
           "console.js": "text/javascript; charset=utf-8"}
_UNCONFIGURED = (
    "<p>Nobody may use this console yet: it was mounted without a way to let anyone in.</p>"
    "<p>Give it a token, and log in with it (or send <code>Authorization: Bearer "
    "&lt;token&gt;</code>):</p><pre>Console(engine, token=os.environ[\"WEBHOOK_WORKFLOW_"
    "CONSOLE_TOKEN\"])</pre><p>or let the host decide who may:</p>"
    "<pre>Console(engine, authorize=lambda method, path, headers: ...)</pre>"
    "<p>With <code>webhook-workflow serve --console /ops</code>, set the "
    "<code>WEBHOOK_WORKFLOW_CONSOLE_TOKEN</code> variable or give "
    "<code>--console-token</code>. See the console page of the documentation.</p>")


def _static(name: str) -> CoreResponse | None:
    kind = _STATIC.get(name)
    if kind is None:
        return None
    data = resources.files(__package__).joinpath("static", name).read_bytes()
    return CoreResponse(200, [("Content-Type", kind)], data)


class Console:
    """The operations console of ``engine``: its executions, workflows and actions.

    Nobody gets in until access is configured: ``authorize(method, path, headers) -> bool``
    (the host's rule), or ``token`` (a Bearer token, or typed into the login form, which sets
    a signed session cookie). ``title`` names it in the page header. Mount :attr:`asgi` or
    :attr:`wsgi` under any prefix; :meth:`handle` is the sans-IO core both use.
    """

    def __init__(self, engine: Engine, *, authorize: Authorize | None = None,
                 token: str | None = None, title: str | None = None) -> None:
        self.engine = engine
        self.title = title or "webhook_workflow console"
        self.access = Access(authorize, token, engine.store.shared_secret)
        self._asgi: Any = None
        self._wsgi: Any = None

    @property
    def asgi(self) -> Callable[..., Any]:
        """The console as an ASGI 3 application."""
        if self._asgi is None:
            from .asgi import ConsoleASGI

            self._asgi = ConsoleASGI(self)
        return self._asgi  # type: ignore[no-any-return]

    @property
    def wsgi(self) -> Callable[..., Any]:
        """The console as a WSGI application."""
        if self._wsgi is None:
            from .wsgi import ConsoleWSGI

            self._wsgi = ConsoleWSGI(self)
        return self._wsgi  # type: ignore[no-any-return]

    # -- the core ----------------------------------------------------------------------------
    def handle(self, request: ConsoleRequest) -> CoreResponse:
        """The answer to one request, with the console's security headers."""
        try:
            response = self._answer(request)
        except StoreUnavailable as exc:
            response = error_response(503, f"the store is unavailable: {exc}",
                                      [("Retry-After", "5")])
        except Exception:  # a page that broke must not take the door down with it
            logger.exception("console: unexpected error answering %s %s", request.method,
                             request.path)
            response = error_response(500, "internal error")
        response.headers.extend(_SECURITY)
        return response

    def _answer(self, request: ConsoleRequest) -> CoreResponse:
        path = request.path or "/"
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]  # one trailing slash is no other page (Litestar appends one)
        if path.startswith("/static/") and request.method in ("GET", "HEAD"):
            # Assets hold no data: the 403 and login pages are styled with them too.
            found = _static(path[len("/static/"):])
            return found or error_response(404, "not found")
        jar = read_cookies(request.headers.get("cookie"))
        secure = self._secure(request)
        nonce = jar.get(CSRF_COOKIE)
        set_cookies: list[tuple[str, str]] = []
        if not nonce:
            nonce = self.access.new_nonce()
            set_cookies.append(("Set-Cookie", cookie_header(
                CSRF_COOKIE, nonce, request.root or "/", secure, None)))
        csrf = self.access.csrf_token(nonce)
        if not self.access.configured:
            return self._refused(request, 403, "access to the console is not configured",
                                 _UNCONFIGURED, csrf)
        grant = self.access.grant(request.method, path, request.headers, jar)
        page = Page(request.root, self.title, csrf, grant.how == "session",
                    self.engine.metrics is not None)
        if path == "/login" and self.access.token is not None:
            return self._login(request, page, jar, set_cookies, secure)
        if not grant.allowed:
            if self.access.token is not None:
                if request.wants_json():
                    return error_response(401, "a Bearer token is required",
                                          [("WWW-Authenticate", 'Bearer realm="console"')])
                target = request.path + (f"?{request.query}" if request.query else "")
                login = page.url("login", next=target)
                return CoreResponse(303, [("Location", login), *set_cookies], b"")
            return self._refused(request, 403, "you may not use this console",
                                 "<p>The host's access rule refused this request.</p>", csrf)
        form: dict[str, str] = {}
        if request.method == "POST":
            form = request.form() if "form" in (request.headers.get("content-type") or "") \
                else {}
            if grant.how != "bearer" and not self.access.csrf_valid(
                    jar.get(CSRF_COOKIE), form.get("csrf") or request.headers.get(
                        "x-csrf-token")):
                return self._refused(request, 403, "the form's CSRF token is missing or wrong",
                                     "<p>Reload the page and try again.</p>", csrf)
        ctx = Ctx(request, self.engine, page, form)
        response = self._route(ctx, path, request.method)
        response.headers.extend(set_cookies)
        return response

    def _refused(self, request: ConsoleRequest, status: int, message: str, body: str,
                 csrf: str) -> CoreResponse:
        if request.wants_json():
            return error_response(status, message)
        page = Page(request.root, self.title, csrf, False, False)
        heading = "Access not configured" if "configured" in message else "Forbidden"
        return html_response(status, page.layout(heading, f'<p class="error">{esc(message)}'
                                                 f"</p>{body}"))

    def _secure(self, request: ConsoleRequest) -> bool:
        """Whether the browser reached us over HTTPS: the door says so, or a trusted proxy
        (the engine's ``trusted_proxies``) does with ``X-Forwarded-Proto``."""
        if request.secure:
            return True
        proto = (request.headers.get("x-forwarded-proto") or "").split(",")[0].strip()
        return proto.lower() == "https" and bool(self.engine.trusted_proxies) and \
            in_networks(request.client, self.engine.trusted_proxies)

    def _login(self, request: ConsoleRequest, page: Page, jar: dict[str, str],
               set_cookies: list[tuple[str, str]], secure: bool) -> CoreResponse:
        params = request.params()
        form = request.form() if request.method == "POST" else {}
        target = form.get("next") or params.get("next") or "/"
        if not target.startswith("/") or target.startswith("//") or "\\" in target:
            target = "/"  # only a page of this console: no open redirect
        note = ""
        status = 200
        if request.method == "POST":
            if self.access.login_blocked(request.client):
                return error_response(429, "too many wrong tokens: wait a minute",
                                      [("Retry-After", "60")])
            if not self.access.csrf_valid(jar.get(CSRF_COOKIE), form.get("csrf")):
                note, status = "The form expired: try again.", 403
            elif self.access.check_token(form.get("token", "")):
                session = cookie_header(SESSION_COOKIE, self.access.new_session(),
                                        request.root or "/", secure, SESSION_SECONDS)
                location = f"{request.root}{quote(unquote(target), safe='/?=&%:@-._~+')}"
                return CoreResponse(303, [("Location", location), ("Set-Cookie", session),
                                          *set_cookies], b"")
            else:
                self.access.login_failed(request.client)
                note, status = "That is not the console's token.", 401
        elif request.method != "GET":
            return error_response(405, "use GET or POST", [("Allow", "GET, POST")])
        error = f'<p class="error" id="login-error">{esc(note)}</p>' if note else ""
        extra = ('<label class="block">Token <input type="password" name="token" '
                 'autocomplete="current-password" autofocus required></label>')
        body = error + page.form("login", [("next", target)], "Log in", "button", extra)
        return html_response(status, page.layout("Log in", body), set_cookies)

    def _route(self, ctx: Ctx, path: str, method: str) -> CoreResponse:
        parts = [unquote(p) for p in path.strip("/").split("/") if p]
        get = method in ("GET", "HEAD")
        if parts[:1] == ["api"]:
            return api(ctx, parts[1:], "GET" if method == "HEAD" else method)
        if not parts or parts == ["executions"]:
            return executions_page(ctx) if get else _not_allowed("GET")
        if parts == ["workflows"]:
            return workflows_page(ctx) if get else _not_allowed("GET")
        if len(parts) == 2 and parts[0] == "workflows":
            return workflow_page(ctx, parts[1]) if get else _not_allowed("GET")
        if len(parts) == 2 and parts[0] == "executions":
            return execution_page(ctx, parts[1]) if get else _not_allowed("GET")
        if len(parts) == 3 and parts[0] == "executions" and parts[2] in ACTIONS:
            return do_action(ctx, parts[2], parts[1], post=method == "POST")
        if parts == ["recover"]:
            if method == "POST":
                return do_recover(ctx)
            return html_response(200, ctx.page.layout("Recover", recover_form(ctx, ctx.params)))
        if parts == ["logout"] and method == "POST":
            clear = cookie_header(SESSION_COOKIE, "", ctx.request.root or "/",
                                  self._secure(ctx.request), 0)
            return CoreResponse(303, [("Location", ctx.page.url("login")),
                                      ("Set-Cookie", clear)], b"")
        if parts == ["metrics"] and get:
            metrics = self.engine.metrics
            if metrics is None:
                return not_found(ctx, "This engine has no metrics (Engine(metrics=True)).")
            return metrics.response()
        return not_found(ctx, "No such page.")


def _not_allowed(allow: str) -> CoreResponse:
    return error_response(405, f"use {allow}", [("Allow", allow)])
