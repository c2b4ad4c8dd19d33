"""Trigger guards: the checks that run before any execution exists, validated and compiled.

Each runs at its row of the HTTP contract. A guard that is not configured costs nothing on the
request path.

``signature`` (row 9), ``idempotency`` (row 13), ``filter``/``filterResponse`` (row 12),
``ipAllowlist`` (row 5), ``cors`` (row 3), ``request.form`` / ``request.raw`` (bodies) and
``options.syncWait`` are validated and compiled here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import DefinitionError
from ..fields import (
    Field,
    Problems,
    check_section,
    full_match,
    integer,
    join,
    schema_hint,
    string,
    type_name,
)
from ..http.guards import Cors, Network
from ..http.response import ResponseSpec, compile_response
from ..http.signatures import SignatureCheck, compile_signature
from ..variables.expressions.calculators import Test, compile_calculation
from ..variables.templates import Template, template

__all__ = [
    "GUARD_ROOTS",
    "IDEMPOTENCY_FIELDS",
    "Cors",
    "Guards",
    "compile_guards",
    "parse_networks",
]

#: What guard templates see: the trigger variables and every request header.
GUARD_ROOTS = frozenset({"$context", "$headers"})



def parse_networks(value: Any, path: str) -> tuple[Network, ...]:
    """A list of IP addresses and CIDR networks (IPv4 and IPv6)."""
    if not isinstance(value, list):
        raise DefinitionError(path, f"must be an array, got {type_name(value)}")
    networks = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise DefinitionError(join(path, i), "must be an IP address or a CIDR network")
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise DefinitionError(join(path, i), f"{item!r} is not an IP address or a CIDR "
                                  "network") from None
    return tuple(networks)


@schema_hint(lambda: {"type": "array", "minItems": 1,
                      "items": {"type": "string", "pattern": full_match(_ORIGIN.pattern)}})
def _origins(value: Any, path: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise DefinitionError(path, "must be a non-empty array of origins")
    for i, origin in enumerate(value):
        if not isinstance(origin, str) or not _ORIGIN.fullmatch(origin):
            raise DefinitionError(join(path, i), "must be an origin like https://app.example "
                                  "(scheme, host and optional port; no path, no '*')")
    return list(value)


@schema_hint(lambda: {"type": "array",
                      "items": {"type": "string", "pattern": full_match(_TOKEN.pattern)}})
def _header_names(value: Any, path: str) -> list[str]:
    if not isinstance(value, list):
        raise DefinitionError(path, f"must be an array, got {type_name(value)}")
    for i, name in enumerate(value):
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise DefinitionError(join(path, i), "must be a header name")
    return list(value)


_ORIGIN: re.Pattern[str] = re.compile(
    r"https?://[A-Za-z0-9.-]+(:\d{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
_TOKEN: re.Pattern[str] = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


IDEMPOTENCY_FIELDS = (
    Field("key", string(r".+", what="a non-empty template"), "{{$headers.webhook-id}}",
          "template over $context and $headers; empty or null: no deduplication"),
    Field("ttl", integer(1, 366 * 86400), 86400, "seconds a key is remembered"),
)
CORS_FIELDS = (
    Field("origins", _origins, doc="allowed origins, e.g. https://app.example (required)"),
    Field("headers", _header_names, ["content-type"], "request headers a browser may send"),
    Field("maxAge", integer(0, 86400), 600, "seconds a browser may cache the preflight"),
)


@dataclass(frozen=True, slots=True)
class Guards:
    """The compiled guards of one workflow (all None/False when none is configured)."""

    signature: SignatureCheck | None = None
    idempotency_key: Template | None = None
    idempotency_ttl: int = 86400
    filter: Test | None = None
    filter_response: ResponseSpec | None = None
    allowlist: tuple[Network, ...] | None = None
    cors: Cors | None = None
    form: bool = False
    raw: bool = False
    sync_wait_ms: int = 0


#: A workflow without guards.
NO_GUARDS = Guards()


def _hide_secrets(signature: dict[str, Any]) -> dict[str, Any]:
    """The canonical form keeps a SHA-256 of each literal secret, never the secret."""
    secrets = [s if "{{" in s else "sha256:" + hashlib.sha256(s.encode()).hexdigest()
               for s in signature.get("secrets", [])]
    return {**signature, "secrets": secrets}


def compile_guards(config: dict[str, Any], request: dict[str, Any], options: dict[str, Any],
                   env: Mapping[str, Any]) -> Guards:
    """Compile the guard fields of a checked trigger ``config``; rewrites ``config`` in place
    into its canonical form (defaults filled in, secrets hidden)."""
    # Each guard is checked apart from the others: all their errors at once.
    problems = Problems()
    signature = None
    if config.get("signature") is not None:
        with problems.gather():
            signature = compile_signature(config["signature"], env, "config.signature")
            config["signature"] = _hide_secrets(config["signature"])
    key: Template | None = None
    ttl = 86400
    if config.get("idempotency") is not None:
        with problems.gather():
            spec = check_section(config["idempotency"], IDEMPOTENCY_FIELDS,
                                 "config.idempotency")
            config["idempotency"] = spec
            key = template(spec["key"], "config.idempotency.key", GUARD_ROOTS)
            ttl = spec["ttl"]
    test: Test | None = None
    filter_response: ResponseSpec | None = None
    if config.get("filter") is not None:
        with problems.gather():
            test = compile_calculation(config["filter"], "config.filter",
                                       roots=GUARD_ROOTS).evaluate
        with problems.gather():
            config["filterResponse"], filter_response = compile_response(
                {"body": "ignored"} if config.get("filterResponse") is None
                else config["filterResponse"], "config.filterResponse",
                GUARD_ROOTS | {"$system", "$env"})
    elif config.get("filterResponse") is not None:
        problems.add("config.filterResponse", "needs config.filter")
    allowlist = None
    if config.get("ipAllowlist") is not None:
        with problems.gather():
            allowlist = parse_networks(config["ipAllowlist"], "config.ipAllowlist")
            if not allowlist:
                raise DefinitionError("config.ipAllowlist", "must list at least one address "
                                      "(an empty list would refuse every client)")
    cors = None
    if config.get("cors") is not None:
        with problems.gather():
            spec = check_section(config["cors"], CORS_FIELDS, "config.cors")
            config["cors"] = spec
            cors = Cors(frozenset(spec["origins"]), ", ".join(spec["headers"]),
                        str(spec["maxAge"]))
    problems.raise_found()
    return Guards(signature=signature, idempotency_key=key, idempotency_ttl=ttl, filter=test,
                  filter_response=filter_response, allowlist=allowlist, cors=cors,
                  form=request["form"], raw=request["raw"],
                  sync_wait_ms=options["syncWait"])
