"""Engine settings: their defaults (one table) and their validation."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .definition.guards import parse_networks
from .errors import DefinitionError
from .nodes.request_policy import check_request_policy
from .store.base import Store

__all__ = ["SETTINGS", "check_retention", "check_settings"]

#: Every engine setting and its default (``Engine(**settings)``).
SETTINGS: dict[str, Any] = {
    "max_body_size": 1024 * 1024, "max_json_depth": 100, "max_json_items": 100_000,
    "max_url_length": 8 * 1024,
    "max_header_count": 100, "max_header_bytes": 16 * 1024, "loop_limit": 10_000,
    "max_node_runs": 100_000, "max_executions": 10_000, "max_queue": 10_000,
    "max_store_bytes": 128 * 1024 * 1024,
    "retention": None, "workers": 4, "lease": 30, "trusted_proxies": (), "max_run_time": None,
    "forwarded_header": "X-Forwarded-For",
    "request_policy": None, "public_url": None,
}


def check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The given settings over the defaults, validated (``TypeError`` for unknown names,
    ``ValueError`` for bad values); ``trusted_proxies`` comes back as parsed networks."""
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise TypeError(f"unknown engine setting(s): {', '.join(unknown)}")
    merged: dict[str, Any] = {**SETTINGS, **settings}
    cap = merged["max_run_time"]
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int | float)
                            or cap <= 0):
        raise ValueError("engine setting max_run_time must be a positive number of seconds")
    for name in ("max_body_size", "max_json_depth", "max_json_items", "max_url_length",
                 "max_header_count", "max_header_bytes", "loop_limit", "max_node_runs",
                 "max_executions", "max_queue", "max_store_bytes", "workers", "lease"):
        value = merged[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"engine setting {name} must be a positive number")
    merged["request_policy"] = check_request_policy(merged["request_policy"])
    proxies = merged["trusted_proxies"]
    if isinstance(proxies, str) or not isinstance(proxies, list | tuple):
        raise ValueError("trusted_proxies is a list of addresses or CIDR networks")
    try:
        merged["trusted_proxies"] = parse_networks(list(proxies), "trusted_proxies")
    except DefinitionError as exc:
        raise ValueError(str(exc)) from None
    public = merged["public_url"]
    if public is not None and (not isinstance(public, str) or not re.fullmatch(
            r"https?://[A-Za-z0-9.\-\[\]:]+(/[^\s?#]*[^\s?#/])?", public)):
        raise ValueError("public_url is the public base URL of this engine's webhooks: "
                         "http(s)://host[:port][/path], without a trailing slash")
    header = merged["forwarded_header"]
    if not isinstance(header, str) or header.lower() not in ("x-forwarded-for", "forwarded"):
        raise ValueError("forwarded_header is 'X-Forwarded-For' or 'Forwarded': the one "
                         "header your trusted proxies set")
    return merged


def check_retention(value: Any, store: Store) -> dict[str, float] | None:
    """Validate ``retention``: ``{"max_age": seconds, "max_count": n}`` for durable stores."""
    if value is None:
        return None
    if not hasattr(store, "prune"):
        raise ValueError("retention applies to durable stores; the memory store is bounded "
                         "by max_executions")
    if not isinstance(value, Mapping) or not value or set(value) - {"max_age", "max_count"}:
        raise ValueError('retention is {"max_age": seconds, "max_count": n} (one or both)')
    for name, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int | float) or number <= 0:
            raise ValueError(f"retention {name} must be a positive number")
    return dict(value)
