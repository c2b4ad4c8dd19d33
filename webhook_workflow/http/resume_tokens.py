"""Resume-URL tokens: a signed name of one waiting node of one execution, never a bare id.

A token is ``<execution id>.<node key>.<signature>``: the signature is HMAC-SHA256 of the
first two parts under the store's shared key (every process and host on the store signs and
checks with the same key), in unpadded base64url. Ids are digits and node keys
``[A-Za-z0-9_-]``, so a token needs no escaping in a URL path.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

__all__ = ["make_token", "read_token"]

_TOKEN = re.compile(r"([0-9]{1,20})\.([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{43})\Z")


def _signature(secret: bytes, execution_id: str, node_key: str) -> str:
    digest = hmac.new(secret, f"{execution_id}.{node_key}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_token(secret: bytes, execution_id: str, node_key: str) -> str:
    """The token of node ``node_key`` of execution ``execution_id``."""
    return f"{execution_id}.{node_key}.{_signature(secret, execution_id, node_key)}"


def read_token(secret: bytes, token: str) -> tuple[str, str] | None:
    """``(execution id, node key)`` of a token signed with ``secret``; None for any other
    text (malformed, tampered, or signed with another key)."""
    match = _TOKEN.match(token)
    if match is None:
        return None
    execution_id, node_key, signature = match.groups()
    if not hmac.compare_digest(signature, _signature(secret, execution_id, node_key)):
        return None
    return execution_id, node_key
