"""HTTP answers in sans-IO form: :class:`CoreResponse` and compiled response specs.

A response spec (``{"statusCode", "headers", "body"}``) is what the Response node and an async
workflow's ``config.response`` hold. It is compiled once; rendering it against a template
scope gives a :class:`CoreResponse` the doors send as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import DefinitionError
from ..fields import Field, check_section, header_list, integer, join, json_value
from ..jsoncodec import dumps_bytes
from ..variables.templates import Template, template, to_text
from .json_plan import JsonPlan, plan_json

__all__ = [
    "RESPONSE_FIELDS",
    "CoreResponse",
    "HeaderInjection",
    "ResponseSpec",
    "compile_response",
    "empty_response",
    "encode_body",
    "error_response",
]

_BAD = re.compile(r"[\r\n\x00]")
TEXT_PLAIN = "text/plain; charset=utf-8"
APPLICATION_JSON = "application/json"


def wire_text(value: str) -> str:
    """A header value as both doors send it: text beyond latin-1 goes out as its UTF-8 bytes,
    carried in a latin-1 string (PEP 3333's convention; the ASGI door encodes it back)."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("latin-1")
    return value


class HeaderInjection(ValueError):
    """A templated header value rendered to text containing CR, LF or NUL."""


@dataclass(slots=True)
class CoreResponse:
    """An HTTP answer: status, headers (``Content-Length`` not included) and body bytes."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def to_record(self) -> dict[str, Any]:
        """The ``Execution.response`` form: ``{"status", "headers", "body"}`` (body as text)."""
        return {"status": self.status, "headers": [list(h) for h in self.headers],
                "body": self.body.decode("utf-8", "replace")}


def encode_body(body: Any) -> tuple[bytes, str | None]:
    """Body bytes and their default content type: str → text, None → empty, else JSON.

    An empty body still gets ``text/plain``: PEP 3333 validators (and some clients) expect a
    content type on every answer that may carry a body.
    """
    if body is None:
        return b"", TEXT_PLAIN
    if isinstance(body, str):
        return body.encode("utf-8"), TEXT_PLAIN
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    return dumps_bytes(body), APPLICATION_JSON


def empty_response(status: int = 200) -> CoreResponse:
    """An answer without a body."""
    return CoreResponse(status, [("Content-Type", TEXT_PLAIN)], b"")


def error_response(status: int, message: str,
                   headers: Sequence[tuple[str, str]] = ()) -> CoreResponse:
    """The standard error answer ``{"errors":[{"message": ...}]}``."""
    body = dumps_bytes({"errors": [{"message": message}]})
    return CoreResponse(status, [("Content-Type", APPLICATION_JSON), *headers], body)


RESPONSE_FIELDS = (
    Field("statusCode", integer(200, 599), 200, "HTTP status, 200..599"),
    Field("headers", header_list, [], '`[{"name", "value"}]`; values may be templates'),
    Field("body", json_value, None, "str → text/plain, null → empty, else JSON; templates"),
)


class ResponseSpec:
    """A compiled ``{"statusCode", "headers", "body"}``."""

    __slots__ = ("_content_type", "body", "headers", "plan", "static", "status")

    def __init__(self, status: int, headers: list[tuple[str, Template]], body: Template,
                 plan: JsonPlan | None = None) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        #: The body serialised once with slots for its templated leaves (a dict/list body).
        self.plan = plan
        # Whether the definition sets Content-Type itself (else the body's kind chooses).
        self._content_type = not any(n.lower() == "content-type" for n, _ in headers)
        self.static: CoreResponse | None = None
        if body.is_static and all(t.is_static for _, t in headers):
            self.static = self._build(body.render({}), [(n, wire_text(to_text(t.render({}))))
                                                        for n, t in headers])

    def render(self, scope: Mapping[str, Any]) -> CoreResponse:
        """Render against ``scope``; raises :class:`HeaderInjection` on an unsafe header value."""
        static = self.static
        if static is not None:
            return CoreResponse(static.status, list(static.headers), static.body)
        headers = []
        for name, compiled in self.headers:
            value = to_text(compiled.render(scope))
            if _BAD.search(value):
                raise HeaderInjection(f"header {name!r} rendered to a value with CR, LF or NUL")
            headers.append((name, wire_text(value)))
        plan = self.plan
        if plan is None:
            return self._build(self.body.render(scope), headers)
        if self._content_type:
            headers.insert(0, ("Content-Type", APPLICATION_JSON))
        return CoreResponse(self.status, headers, plan.render(scope))

    def _build(self, body: Any, headers: list[tuple[str, str]]) -> CoreResponse:
        data, content_type = encode_body(body)
        if content_type and self._content_type:
            headers.insert(0, ("Content-Type", content_type))
        return CoreResponse(self.status, headers, data)


def compile_response(value: Any, path: str, roots: frozenset[str] | None = None
                     ) -> tuple[dict[str, Any], ResponseSpec]:
    """Validate a response spec (field path ``path``) and compile its templates; ``roots``
    limits the variables they may use (trigger answers see fewer than nodes)."""
    config = check_section(value if value is not None else {}, RESPONSE_FIELDS, path)
    headers: list[tuple[str, Template]] = []
    for i, header in enumerate(config["headers"]):
        name = header["name"]
        if name.lower() in ("content-length", "transfer-encoding", "connection"):
            raise DefinitionError(join(join(join(path, "headers"), i), "name"),
                                  f"{name} is set by the server, not by a workflow")
        where = join(join(join(path, "headers"), i), "value")
        headers.append((name, template(header["value"], where, roots)))
    body = template(config["body"], join(path, "body"), roots)
    plan = None if body.is_static else plan_json(config["body"], roots)
    return config, ResponseSpec(config["statusCode"], headers, body, plan)



