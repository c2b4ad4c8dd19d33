"""HTTP Basic authentication, checked in constant time."""

from __future__ import annotations

import binascii
import hmac
from base64 import b64decode, b64encode

__all__ = ["WWW_AUTHENTICATE", "basic_header", "check_basic", "check_basic_raw"]

#: The challenge sent with every 401 of a Basic-auth workflow.
WWW_AUTHENTICATE = ("WWW-Authenticate", 'Basic realm="webhook"')


def check_basic(header: str | None, expected: tuple[bytes, bytes]) -> bool:
    """True when ``header`` (the ``Authorization`` value) carries exactly ``expected``.

    The scheme name is case-insensitive; the credentials split at the first ``:`` so passwords
    may contain colons; both parts are always compared with :func:`hmac.compare_digest`, so a
    wrong username takes as long as a wrong password.
    """
    if not header:
        return False
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = b64decode(encoded.strip().encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    username, colon, password = decoded.partition(b":")
    user_ok = hmac.compare_digest(username, expected[0])
    password_ok = hmac.compare_digest(password, expected[1])
    return bool(colon) and user_ok and password_ok


def basic_header(expected: tuple[bytes, bytes]) -> bytes:
    """The ``Authorization`` value clients send for ``expected``: ``Basic <base64>``."""
    return b"Basic " + b64encode(expected[0] + b":" + expected[1])


def check_basic_raw(header: bytes | None, expected: tuple[bytes, bytes],
                    canonical: bytes) -> bool:
    """:func:`check_basic` for the header's bytes, with ``canonical`` (:func:`basic_header`)
    compared first: what nearly every client sends is then accepted by one constant-time
    comparison, and any other spelling gets the full check."""
    if header is None:
        return False
    if hmac.compare_digest(header, canonical):
        return True
    return check_basic(header.decode("latin-1"), expected)
