"""Request-time helpers of the trigger guards: client address, CORS answers, header views."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from .headers import RequestHeaders
from .response import CoreResponse

__all__ = ["Cors", "Network", "PublicHeaders", "client_address", "cors_headers", "in_networks",
           "preflight"]

_CREDENTIALS = frozenset({"authorization", "proxy-authorization", "cookie"})

#: An allowed network of ``config.ipAllowlist`` or ``trusted_proxies``.
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Cors:
    """A compiled ``config.cors``."""

    origins: frozenset[str]
    allow_headers: str
    max_age: str


class PublicHeaders(Mapping[str, str]):
    """Every request header, case-insensitive, repeated fields joined with ``", "``, and the
    credential headers left out: what guard templates see as ``$headers``."""

    __slots__ = ("_headers",)

    def __init__(self, headers: RequestHeaders) -> None:
        self._headers = headers

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        if name.lower() in _CREDENTIALS:
            return default
        value = self._headers.get(name)
        return default if value is None else value

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for name in self._headers:
            low = name.lower()
            if low not in seen and low not in _CREDENTIALS:
                seen.add(low)
                yield name

    def __len__(self) -> int:
        return sum(1 for _ in self)


def in_networks(address: str | None, networks: Sequence[Network]) -> bool:
    """True when ``address`` (an IP address text) is in one of ``networks``."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def _forwarded_for(headers: RequestHeaders, header: str) -> list[str]:
    """Client addresses a proxy chain reported in ``header``, nearest proxy last. Only the
    one header the trusted proxies set is read: a client can send the other one."""
    if header.lower() == "forwarded":
        forwarded = headers.get("forwarded") or ""
        hops = []
        for element in forwarded.split(","):
            for pair in element.split(";"):
                name, _, value = pair.strip().partition("=")
                if name.lower() == "for":
                    value = value.strip().strip('"')
                    if value.startswith("["):  # [2001:db8::1]:443
                        value = value[1:value.find("]")] if "]" in value else value[1:]
                    elif value.count(":") == 1:  # 192.0.2.1:8080
                        value = value.split(":", 1)[0]
                    hops.append(value)
        return hops
    xff = headers.get(header)
    hops = []
    for hop in (xff.split(",") if xff else []):
        hop = hop.strip()
        if hop.count(":") == 1:  # 203.0.113.7:8080
            hop = hop.split(":", 1)[0]
        elif hop.startswith("[") and "]" in hop:  # [2001:db8::1]:443
            hop = hop[1:hop.index("]")]
        hops.append(hop)
    return hops


def client_address(peer: str | None, headers: RequestHeaders, trusted: Sequence[Network],
                   header: str = "X-Forwarded-For") -> str | None:
    """The client's address: the peer, unless the peer is a trusted proxy; then the forwarded
    chain is walked from the right, past trusted hops, to the first untrusted address."""
    if not trusted or not in_networks(peer, trusted):
        return peer
    address = peer
    for hop in reversed(_forwarded_for(headers, header)):
        address = hop
        if not in_networks(hop, trusted):
            break
    return address


def cors_headers(cors: Cors, origin: str | None) -> tuple[tuple[str, str], ...]:
    """Headers every answer to an allowed origin carries (none for others)."""
    if origin is None or origin not in cors.origins:
        return ()
    return (("Access-Control-Allow-Origin", origin), ("Vary", "Origin"))


def preflight(cors: Cors, allowed: tuple[tuple[str, str], ...]) -> CoreResponse:
    """The 204 answer to a preflight ``OPTIONS`` from an allowed origin."""
    return CoreResponse(204, [*allowed, ("Access-Control-Allow-Methods", "POST"),
                              ("Access-Control-Allow-Headers", cors.allow_headers),
                              ("Access-Control-Max-Age", cors.max_age)])
