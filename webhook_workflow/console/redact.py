"""What the console never shows: credentials and secrets, replaced by ``[redacted]``.

Redacted wherever they appear in a definition, a trigger context, a job's result, a callback's
request or a stored answer:

- the values of the ``Authorization``, ``Proxy-Authorization``, ``Cookie`` and ``Set-Cookie``
  headers (as mapping keys, ``{"name", "value"}`` items and ``[name, value]`` pairs);
- Basic-auth passwords (``password`` fields) and signature secrets (``secrets`` lists), except
  a ``{{$env.NAME}}`` reference, which names a secret without holding it;
- the headers a workflow marks secret: every header its definition gives a value from
  ``$env`` (``{"name": "X-Api-Key", "value": "Bearer {{$env.API_KEY}}"}``), and the headers its
  signature scheme is read from;
- any text holding a value of ``$env`` that those headers or the workflow's credentials
  read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["CREDENTIAL_HEADERS", "REDACTED", "Redactor"]

REDACTED = "[redacted]"
#: Headers that carry credentials: never shown, whatever the workflow says.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_ENV = re.compile(r"\{\{\s*\$env\.([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^}]*)?\}\}")
_SECRET_FIELDS = frozenset({"password", "secrets", "secret", "token"})
#: Signature headers of the built-in schemes (guards/signatures).
_SIGNATURE_HEADERS = {
    "github": ("x-hub-signature-256", "x-hub-signature"),
    "slack": ("x-slack-signature",),
    "stripe": ("stripe-signature",),
    "standard-webhooks": ("webhook-signature",),
    "shopify": ("x-shopify-hmac-sha256",),
}
_MAX_DEPTH = 400


def _only_reference(text: str) -> bool:
    return _ENV.fullmatch(text.strip()) is not None


class Redactor:
    """The redaction rules of one workflow definition (or of none: the built-in rules)."""

    def __init__(self, definition: Mapping[str, Any] | None = None,
                 env: Mapping[str, Any] | None = None) -> None:
        self.headers: set[str] = set(CREDENTIAL_HEADERS)
        self.values: set[str] = set()
        if definition is not None:
            self._learn(definition, env or {})

    def _learn(self, definition: Mapping[str, Any], env: Mapping[str, Any]) -> None:
        """Find the headers given a value from ``$env`` and the env values of secrets."""
        stack: list[Any] = [definition]
        while stack:
            value = stack.pop()
            if isinstance(value, Mapping):
                name, text = value.get("name"), value.get("value")
                if isinstance(name, str) and isinstance(text, str) and _ENV.search(text):
                    self.headers.add(name.lower())
                    self._secrets(text, env)
                scheme = value.get("scheme")
                if isinstance(scheme, str) and "secrets" in value:
                    self.headers.update(_SIGNATURE_HEADERS.get(scheme, ()))
                    header = value.get("header")
                    if isinstance(header, str):
                        self.headers.add(header.lower())
                for key, item in value.items():
                    if key in _SECRET_FIELDS:
                        for text in item if isinstance(item, list) else [item]:
                            self._secrets(text, env)
                    stack.append(item)
            elif isinstance(value, list):
                stack.extend(value)

    def _secrets(self, text: Any, env: Mapping[str, Any]) -> None:
        """Remember the values of the ``$env`` variables ``text`` reads."""
        for ref in _ENV.findall(text) if isinstance(text, str) else ():
            secret = env.get(ref)
            if isinstance(secret, str) and len(secret) >= 4:
                self.values.add(secret)

    def __call__(self, value: Any) -> Any:
        """A copy of ``value`` with every secret replaced."""
        return self._walk(value, 0)

    def _walk(self, value: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            return "[too deep to show]"
        if isinstance(value, str):
            for secret in self.values:  # also inside text: a body serialised to a string
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, Mapping):
            return self._mapping(value, depth)
        if isinstance(value, list | tuple):
            if len(value) == 2 and isinstance(value[0], str) \
                    and value[0].lower() in self.headers:
                return [value[0], REDACTED]  # a [name, value] header pair
            return [self._walk(item, depth + 1) for item in value]
        return value

    def _mapping(self, value: Mapping[Any, Any], depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        name = value.get("name")
        pair = isinstance(name, str) and name.lower() in self.headers and "value" in value
        for key, item in value.items():
            lowered = key.lower() if isinstance(key, str) else key
            if (pair and key == "value") or (lowered in self.headers
                                             and isinstance(item, str | list)):
                out[key] = REDACTED
            elif lowered in _SECRET_FIELDS:
                out[key] = self._secret(item)
            else:
                out[key] = self._walk(item, depth + 1)
        return out

    def _secret(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._secret(item) for item in value]
        if isinstance(value, str) and _only_reference(value):
            return value
        if isinstance(value, bool) or value is None:
            return value
        return REDACTED
