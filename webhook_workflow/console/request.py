"""A console request in sans-IO form, and what a page handler is given to answer it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

from ..http.response import CoreResponse
from .redact import Redactor
from .render import Page

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["MAX_FORM_BYTES", "ConsoleRequest", "Ctx", "Handler"]

#: The largest body a console request may have (forms, a resume's JSON).
MAX_FORM_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class ConsoleRequest:
    """One request: ``path`` relative to the mount point (``/``, ``/executions/…``), ``root``
    the mount point itself (``""`` or ``/ops``), ``query`` the raw query string, ``headers``
    case-insensitive, ``secure`` True over HTTPS, ``client`` the peer's address."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    root: str = ""
    secure: bool = False
    client: str | None = None

    def params(self) -> dict[str, str]:
        """The query string's parameters (the last of repeated ones)."""
        return {k: v[-1] for k, v in parse_qs(self.query, keep_blank_values=True).items()}

    def form(self) -> dict[str, str]:
        """The form fields of an ``application/x-www-form-urlencoded`` body."""
        text = self.body.decode("utf-8", "replace")
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}

    def wants_json(self) -> bool:
        """True for the JSON API."""
        return self.path == "/api" or self.path.startswith("/api/")


class Handler(Protocol):
    """What a door calls: the console's sans-IO core."""

    def handle(self, request: ConsoleRequest) -> CoreResponse:
        """The answer to one request."""


@dataclass(slots=True)
class Ctx:
    """What a page or an action is given: the request, the engine, the page layout, the
    form's fields (POST) and the redaction rules of each workflow."""

    request: ConsoleRequest
    engine: Engine
    page: Page
    form: dict[str, str]
    _redactors: dict[tuple[str, int], Redactor] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, str]:
        """The query string's parameters."""
        return self.request.params()

    def redactor(self, workflow_key: str, version: int | None = None) -> Redactor:
        """The redaction rules of a workflow version (the built-in ones when unknown)."""
        wanted = (workflow_key, version or 0)
        found = self._redactors.get(wanted)
        if found is None:
            # The store keeps every version's canonical definition, also of workflows this
            # process does not register.
            definition: Any = self.engine.store.load_version(workflow_key, version) \
                if version else None
            if definition is None:
                current = self.engine.get_workflow(workflow_key)
                definition = current.definition if current is not None else None
            found = self._redactors[wanted] = Redactor(definition, self.engine.env)
        return found
