"""Signing a delivery as its sender does, for every scheme ``config.signature`` verifies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from datetime import datetime
from typing import Any

from ..http.signatures import SCHEMES
from .client import body_bytes

__all__ = ["sign_request"]

_OPTIONS = {"standard-webhooks": {"timestamp", "msg_id"}, "stripe": {"timestamp"},
            "slack": {"timestamp"}, "github": set(),
            "hmac": {"header", "algorithm", "encoding", "prefix"}}


def sign_request(scheme: str, secret: str, body: bytes | str | Any = b"", *,
                 timestamp: float | datetime | None = None, msg_id: str | None = None,
                 header: str | None = None, algorithm: str | None = None,
                 encoding: str | None = None, prefix: str | None = None) -> dict[str, str]:
    """The headers a sender of ``scheme`` adds to ``body``, signed with ``secret``.

    ``body`` is the exact bytes sent (text is sent as UTF-8; any other value as
    :func:`json_body`, the bytes ``WebhookClient.post(json=...)`` sends). ``timestamp`` (Unix
    seconds or an aware datetime, default now) dates ``standard-webhooks``, ``stripe`` and
    ``slack`` signatures: an old one makes a stale delivery. ``msg_id`` is the
    ``webhook-id`` of ``standard-webhooks`` (default a new random one). ``hmac`` takes the
    workflow's ``header``, ``algorithm``, ``encoding`` and ``prefix`` (same defaults). An
    option a scheme does not use raises ``TypeError``.
    """
    if scheme not in _OPTIONS:
        raise ValueError(f"unknown signature scheme {scheme!r} (one of {', '.join(SCHEMES)})")
    given = {name for name, value in (("timestamp", timestamp), ("msg_id", msg_id),
                                      ("header", header), ("algorithm", algorithm),
                                      ("encoding", encoding), ("prefix", prefix))
             if value is not None}
    unused = sorted(given - _OPTIONS[scheme])
    if unused:
        raise TypeError(f"{scheme} signatures take no {', '.join(unused)}")
    raw = body_bytes(body)
    stamp = str(int(timestamp.timestamp() if isinstance(timestamp, datetime)
                    else time.time() if timestamp is None else timestamp))
    if scheme == "standard-webhooks":
        ident = msg_id if msg_id is not None else f"msg_{uuid.uuid4().hex}"
        signed = _mac(_standard_key(secret), f"{ident}.{stamp}.".encode("latin-1") + raw)
        return {"webhook-id": ident, "webhook-timestamp": stamp,
                "webhook-signature": "v1," + base64.b64encode(signed).decode("ascii")}
    key = secret.encode("utf-8")
    if scheme == "stripe":
        return {"Stripe-Signature": f"t={stamp},v1={_mac(key, f'{stamp}.'.encode() + raw).hex()}"}
    if scheme == "slack":
        signed = _mac(key, f"v0:{stamp}:".encode() + raw)
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={signed.hex()}"}
    if scheme == "github":
        return {"X-Hub-Signature-256": f"sha256={_mac(key, raw).hex()}"}
    algorithm = algorithm or "sha256"
    if algorithm not in ("sha1", "sha256", "sha512"):
        raise ValueError(f"algorithm must be 'sha1', 'sha256' or 'sha512', got {algorithm!r}")
    digest = _mac(key, raw, algorithm)
    if encoding not in (None, "hex", "base64"):
        raise ValueError(f"encoding must be 'hex' or 'base64', got {encoding!r}")
    text = base64.b64encode(digest).decode("ascii") if encoding == "base64" else digest.hex()
    return {header or "X-Signature": (prefix or "") + text}


def _mac(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def _standard_key(secret: str) -> bytes:
    """A ``whsec_`` secret is base64 after the prefix (padding optional); any other is text."""
    if not secret.startswith("whsec_"):
        return secret.encode("utf-8")
    encoded = secret[len("whsec_"):]
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
