"""The ``request_policy`` engine setting: which destinations the ``request`` node may reach.

The setting is ``{"allow": [...], "deny": [...]}``. An entry is a host name
(``api.example.com``), a wildcard for every subdomain (``*.example.com``), an IP address, a CIDR
network (``10.0.0.0/8``, ``fd00::/8``) or ``"private"``: loopback, private, shared (100.64/10),
link-local, reserved, multicast and unspecified addresses, IPv4 and IPv6 (an IPv4 address written
inside IPv6, as mapped, 6to4 or NAT64 address, counts as that IPv4 address).

A destination is its URL host together with every address that host resolves to, and each
address is judged on its own. Deny wins: an address matching ``deny`` (by the host name or by
the address) is refused. Link-local addresses and the cloud metadata services are refused too,
also without a policy, unless an ``allow`` entry names the host, the address or a network that
holds it. When ``allow`` is non-empty, every address must match it, by the host name or by the
address. Host names are compared normalised (lower case, IDNA, no trailing dot).
:func:`resolve` gives those addresses; connecting only to them is
:class:`~.request_transport.PinnedConnection`'s part.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Address",
    "PolicyRefusal",
    "RequestPolicy",
    "Resolved",
    "address_of",
    "check_request_policy",
    "is_private",
    "is_sensitive",
    "normalise_host",
    "policy_of",
    "resolve",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``(family, sockaddr)`` pairs as :func:`socket.getaddrinfo` gives them.
Resolved = list[tuple[int, Any]]

_NAME = re.compile(r"(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
#: Refused unless explicitly allowed: link-local networks (169.254.169.254 is the metadata
#: service of AWS, Azure, GCP and Oracle) and the metadata addresses outside them (AWS over
#: IPv6, Alibaba Cloud). Their answers hold the host's cloud credentials.
_SENSITIVE = (ipaddress.IPv4Network("169.254.0.0/16"), ipaddress.IPv6Network("fe80::/10"),
              ipaddress.IPv6Network("fd00:ec2::254/128"),
              ipaddress.IPv4Network("100.100.100.200/32"))


class PolicyRefusal(Exception):
    """The request policy refuses a destination."""


def check_request_policy(value: Any) -> dict[str, list[str]] | None:
    """Validate the ``request_policy`` engine setting; return it as ``{"allow", "deny"}`` lists.

    ``None`` means no policy. Raises ValueError naming the offending entry.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError("request_policy must be a mapping {'allow': [...], 'deny': [...]}")
    unknown = sorted(str(k) for k in value if k not in ("allow", "deny"))
    if unknown:
        raise ValueError(f"request_policy: unknown key(s) {', '.join(unknown)} "
                         "(allowed: allow, deny)")
    out: dict[str, list[str]] = {}
    for part in ("allow", "deny"):
        entries = value.get(part, [])
        if isinstance(entries, str | bytes) or not isinstance(entries, Sequence):
            raise ValueError(f"request_policy.{part} must be a list of host names, addresses, "
                             "CIDR networks or 'private'")
        for i, entry in enumerate(entries):
            _parse_entry(entry, f"request_policy.{part}[{i}]")
        out[part] = [str(e).strip().lower() for e in entries]
    return out


def normalise_host(host: str) -> str:
    """A host name as the resolver reads it: lower case, IDNA (ASCII), no trailing dot, so
    ``LocalHost.``, ``localhost`` and ``db.internal.`` match the entries they spell."""
    text = host.strip().rstrip(".").lower()
    if not text.isascii():
        try:
            text = text.encode("idna").decode("ascii")
        except UnicodeError:
            return text  # not a valid name: it matches no name entry and does not resolve
    return text


def _parse_entry(entry: Any, where: str) -> Network | str:
    """An entry as a network, or a host name / ``*.suffix`` / ``private`` string."""
    if not isinstance(entry, str) or not entry.strip():
        raise ValueError(f"{where} must be a non-empty string")
    text = normalise_host(entry) if not entry.strip().startswith("*.") else \
        "*." + normalise_host(entry.strip()[2:])
    if text == "private":
        return text
    try:
        return ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        pass
    if "/" in text or ":" in text or not _NAME.fullmatch(text):
        raise ValueError(f"{where}: {entry!r} is not a host name, IP address, CIDR network "
                         "or 'private'")
    return text


def _plain(address: Address) -> Address:
    """An IPv4 address written as IPv4-mapped IPv6 is that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _embedded(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a 6to4 or NAT64 address stands for."""
    embedded = address.sixtofour
    if embedded is None and address in _NAT64:
        embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return embedded


def is_sensitive(address: Address) -> bool:
    """True for link-local and cloud metadata addresses (also written inside IPv6)."""
    address = _plain(address)
    if any(address in net for net in _SENSITIVE):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded(address)
        return embedded is not None and is_sensitive(embedded)
    return False


def is_private(address: Address) -> bool:
    """True for the addresses the ``"private"`` entry stands for."""
    address = _plain(address)
    if (address.is_private or address.is_loopback or address.is_link_local
            or address.is_reserved or address.is_multicast or address.is_unspecified
            or not address.is_global):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local:
            return True
        embedded = _embedded(address)
        return embedded is not None and is_private(embedded)
    return False


@dataclass(frozen=True, slots=True)
class _Rules:
    names: frozenset[str]
    suffixes: tuple[str, ...]
    networks: tuple[Network, ...]
    private: bool

    @classmethod
    def of(cls, entries: Iterable[str]) -> _Rules:
        names, suffixes, networks, private = set(), [], [], False
        for entry in entries:
            parsed = _parse_entry(entry, "request_policy")
            if parsed == "private":
                private = True
            elif isinstance(parsed, str):
                if parsed.startswith("*."):
                    suffixes.append(parsed[1:])
                else:
                    names.add(parsed)
            else:
                networks.append(parsed)
        return cls(frozenset(names), tuple(suffixes), tuple(networks), private)

    def __bool__(self) -> bool:
        return bool(self.names or self.suffixes or self.networks or self.private)

    def matches(self, host: str, address: Address) -> bool:
        return self.names_it(host, address) or (self.private and is_private(address))

    def names_it(self, host: str, address: Address) -> bool:
        """Matched by a host name, ``*.suffix``, address or network entry (not ``private``)."""
        if host in self.names or host.endswith(self.suffixes):
            return True
        address = _plain(address)
        return any(address in net for net in self.networks)


@dataclass(frozen=True, slots=True)
class RequestPolicy:
    """A compiled ``request_policy``."""

    allow: _Rules
    deny: _Rules

    def check(self, host: str, addresses: Iterable[Address]) -> None:
        """Raise :class:`PolicyRefusal` unless every address of ``host`` may be reached."""
        host = normalise_host(host)
        for address in addresses:
            if self.deny.matches(host, address):
                raise PolicyRefusal(f"{host} ({address}) is denied by the request policy")
            if is_sensitive(address) and not self.allow.names_it(host, address):
                raise PolicyRefusal(f"{host} ({address}) is a link-local or cloud metadata "
                                    "address; request_policy must allow it by name or address")
            if self.allow and not self.allow.matches(host, address):
                raise PolicyRefusal(f"{host} ({address}) is not allowed by the request policy")


def policy_of(value: Mapping[str, Any] | None) -> RequestPolicy:
    """The compiled policy of an engine's ``request_policy`` setting (cached per content);
    without one, the default policy (only link-local and metadata addresses refused)."""
    if value is None:
        return _compile((), ())
    return _compile(tuple(value.get("allow") or ()), tuple(value.get("deny") or ()))


@functools.lru_cache(maxsize=32)
def _compile(allow: tuple[str, ...], deny: tuple[str, ...]) -> RequestPolicy:
    return RequestPolicy(_Rules.of(allow), _Rules.of(deny))


# --- resolving ------------------------------------------------------------------------------


def resolve(host: str, port: int, deadline: float) -> Resolved:
    """Every address of ``host`` (deduplicated, in resolver order), within the deadline.

    The system resolver cannot be interrupted, so a name lookup runs in a short-lived thread
    and is abandoned (it ends on its own) when the deadline passes first.
    """
    try:
        ipaddress.ip_address(host)
    except ValueError:
        box: dict[str, Any] = {}

        def lookup() -> None:
            try:
                box["found"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                box["error"] = exc

        thread = threading.Thread(target=lookup, name="webhook-workflow-resolve", daemon=True)
        thread.start()
        thread.join(max(deadline - time.monotonic(), 0.0))
        if thread.is_alive():
            raise TimeoutError("name resolution timed out") from None
        if "error" in box:
            raise box["error"] from None
        infos = box["found"]
    else:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_NUMERICHOST)
    out: Resolved = []
    for family, _type, _proto, _name, sockaddr in infos:
        if (family, sockaddr) not in out:
            out.append((family, sockaddr))
    return out


def address_of(sockaddr: Any) -> Address:
    """The IP address of a socket address (an IPv6 zone is dropped)."""
    return ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
