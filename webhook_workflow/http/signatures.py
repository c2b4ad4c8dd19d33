"""Signature verification of webhook deliveries (``config.signature``), with no I/O.

:func:`compile_signature` checks the block once, at registration, and returns a
:class:`SignatureCheck` holding everything a delivery needs precomputed: the secrets' key
bytes (one keyed HMAC per secret, copied per request), the header names and the digest size.
:meth:`SignatureCheck.verify` checks the exact raw body bytes in constant time against every
secret (so a secret can be rotated) and raises ``RequestRejected(401, message)`` naming the
failed check, never a secret or the expected signature.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import DefinitionError, RequestRejected
from ..fields import (
    HEADER_NAME,
    Field,
    check_section,
    integer,
    join,
    one_of,
    schema_hint,
    string,
    type_name,
)

__all__ = ["HMAC_FIELDS", "SCHEMES", "SIGNATURE_FIELDS", "SignatureCheck", "compile_signature"]

#: The supported schemes; the first three sign a timestamp and honour ``tolerance``.
SCHEMES = ("standard-webhooks", "stripe", "slack", "github", "hmac")
TIMESTAMPED = frozenset(SCHEMES[:3])
#: At most this many secrets per block, and signatures examined per header.
MAX_SECRETS = 10
MAX_SIGNATURES = 10
#: A signature or timestamp header longer than this is refused unread.
MAX_HEADER_LENGTH = 8 * 1024

_ENV_SECRET = re.compile(r"\{\{\s*\$env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_DIGEST_SIZES = {"sha1": 20, "sha256": 32, "sha512": 64}


@schema_hint({"type": "array", "minItems": 1, "maxItems": MAX_SECRETS,
              "items": {"type": "string", "minLength": 1}})
def _secret_list(value: Any, path: str) -> list[str]:
    if not isinstance(value, list):
        raise DefinitionError(path, f"must be an array of strings, got {type_name(value)}")
    if not value:
        raise DefinitionError(path, "must list at least one secret")
    if len(value) > MAX_SECRETS:
        raise DefinitionError(path, f"must list at most {MAX_SECRETS} secrets")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            got = "an empty string" if item == "" else type_name(item)
            raise DefinitionError(join(path, i), f"must be a non-empty string, got {got}")
    return list(value)


SIGNATURE_FIELDS: tuple[Field, ...] = (
    Field("scheme", one_of(*SCHEMES), doc="`standard-webhooks`, `stripe`, `slack`, `github` "
          "or `hmac`", kind="string"),
    Field("secrets", _secret_list, doc="1 to 10 secrets, literal or `{{$env.NAME}}`; a "
          "signature made with any one of them verifies", kind="array"),
    Field("tolerance", integer(1), 300, "seconds the signed timestamp may differ from now "
          "(standard-webhooks, stripe, slack only)", kind="integer"),
)

#: The extra fields of ``scheme: "hmac"``.
HMAC_FIELDS: tuple[Field, ...] = (
    Field("header", string(HEADER_NAME.pattern[:-2], max_length=256,
                           what="a header name ([A-Za-z][A-Za-z0-9_-]*)"),
          "X-Signature", "the header carrying the signature", kind="string"),
    Field("algorithm", one_of(*_DIGEST_SIZES), "sha256", "`sha1`, `sha256` or `sha512`",
          kind="string"),
    Field("encoding", one_of("hex", "base64"), "hex", "how the digest is written: `hex` "
          "(either case) or `base64`", kind="string"),
    Field("prefix", string(r"(?:[!-~][ -~]*)?", max_length=64,
                           what="printable ASCII not starting with a space"),
          "", "text before the digest, e.g. `sha256=`", kind="string"),
)


def _render(text: str, env: Mapping[str, Any], path: str) -> str:
    """A secret as text; ``{{$env.NAME}}`` takes it from the engine's ``env`` now."""
    if "{{" not in text:
        return text
    match = _ENV_SECRET.fullmatch(text.strip())
    if match is None:
        raise DefinitionError(path, "a secret is literal text or exactly {{$env.NAME}}")
    value = env.get(match.group(1))
    if value is None or value == "":
        raise DefinitionError(path, f"$env.{match.group(1)} is not set in the engine's env")
    return str(value)


def _key(scheme: str, text: str, path: str) -> bytes:
    """The HMAC key of a secret: a standard-webhooks ``whsec_`` secret is base64 after the
    prefix; every other secret is its UTF-8 bytes."""
    if scheme != "standard-webhooks" or not text.startswith("whsec_"):
        return text.encode("utf-8")
    encoded = text[len("whsec_"):]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise DefinitionError(path, "a whsec_ secret must be base64 after the prefix") from None
    if not key:
        raise DefinitionError(path, "a whsec_ secret must not be empty after the prefix")
    return key


def _reject(message: str) -> RequestRejected:
    return RequestRejected(401, message)


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        raise _reject(f"missing header {name}")
    if len(value) > MAX_HEADER_LENGTH:
        raise _reject(f"header {name} longer than {MAX_HEADER_LENGTH} characters")
    value = value.strip()
    if not value:
        raise _reject(f"empty header {name}")
    return value


def _wire(text: str) -> bytes:
    """A header's text as the bytes sent (the doors decode header bytes as latin-1)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _from_hex(text: str, size: int) -> bytes | None:
    if len(text) != 2 * size or not _HEX.fullmatch(text):
        return None
    return bytes.fromhex(text)


def _from_base64(text: str, size: int) -> bytes | None:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == size else None


@dataclass(frozen=True, slots=True, eq=False)
class SignatureCheck:
    """A compiled ``config.signature``: immutable, shared by every request and thread."""

    scheme: str
    tolerance: int | None
    header: str
    digest_size: int
    decode: Callable[[str, int], bytes | None] = field(repr=False)
    prefix: str = ""
    keys: tuple[hmac.HMAC, ...] = field(default=(), repr=False)

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """Accept the delivery or raise ``RequestRejected(401, ...)``; ``headers`` is a
        case-insensitive mapping, ``body`` the exact raw bytes, ``now`` the Unix time."""
        signed, candidates = _PARSERS[self.scheme](self, headers, now)
        for key in self.keys:
            mac = key.copy()
            mac.update(signed)
            mac.update(body)
            expected = mac.digest()
            for candidate in candidates:
                if hmac.compare_digest(expected, candidate):
                    return
        raise _reject("signature mismatch")

    def _check_time(self, text: str, now: float) -> bytes:
        if not _TIMESTAMP.fullmatch(text):
            raise _reject("malformed timestamp")
        delta = now - int(text)
        limit = self.tolerance if self.tolerance is not None else 0
        if delta > limit:
            raise _reject("stale timestamp")
        if -delta > limit:
            raise _reject("timestamp too far in the future")
        return text.encode("ascii")

    def _pick(self, values: list[str], what: str) -> list[bytes]:
        """Decode up to :data:`MAX_SIGNATURES` signatures; refuse when none decodes."""
        decoded = [self.decode(v, self.digest_size) for v in values[:MAX_SIGNATURES]]
        candidates = [d for d in decoded if d is not None]
        if not candidates:
            raise _reject(f"malformed {self.header}" if values else f"no {what} signature "
                          f"in {self.header}")
        return candidates


Parsed = tuple[bytes, list[bytes]]


def _standard(check: SignatureCheck, headers: Mapping[str, str], now: float) -> Parsed:
    msg_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    value = _header(headers, check.header)
    stamp = check._check_time(timestamp, now)
    values = []
    for entry in value.split():
        version, comma, signature = entry.partition(",")
        if not comma:
            raise _reject(f"malformed {check.header}")
        if version == "v1":
            values.append(signature)
    return _wire(msg_id) + b"." + stamp + b".", check._pick(values, "v1")


def _stripe(check: SignatureCheck, headers: Mapping[str, str], now: float) -> Parsed:
    value = _header(headers, check.header)
    timestamp: str | None = None
    values = []
    for item in value.split(","):
        key, equals, text = item.strip().partition("=")
        if not equals:
            raise _reject(f"malformed {check.header}")
        if key == "t":
            if timestamp is not None:
                raise _reject(f"malformed {check.header}")
            timestamp = text
        elif key == "v1":
            values.append(text)
    if timestamp is None:
        raise _reject(f"missing timestamp in {check.header}")
    stamp = check._check_time(timestamp, now)
    return stamp + b".", check._pick(values, "v1")


def _slack(check: SignatureCheck, headers: Mapping[str, str], now: float) -> Parsed:
    timestamp = _header(headers, "X-Slack-Request-Timestamp")
    value = _header(headers, check.header)
    stamp = check._check_time(timestamp, now)
    version, equals, text = value.partition("=")
    if not equals or version != "v0":
        raise _reject(f"malformed {check.header}")
    return b"v0:" + stamp + b":", check._pick([text], "v0")


def _prefixed(check: SignatureCheck, headers: Mapping[str, str], now: float) -> Parsed:
    value = _header(headers, check.header)
    if not value.startswith(check.prefix):
        raise _reject(f"malformed {check.header}")
    return b"", check._pick([value[len(check.prefix):]], "")


_PARSERS: dict[str, Callable[[SignatureCheck, Mapping[str, str], float], Parsed]] = {
    "standard-webhooks": _standard, "stripe": _stripe, "slack": _slack,
    "github": _prefixed, "hmac": _prefixed,
}

#: Per scheme: signature header, digest encoding and the prefix before the digest.
_LAYOUT: dict[str, tuple[str, Callable[[str, int], bytes | None], str]] = {
    "standard-webhooks": ("webhook-signature", _from_base64, ""),
    "stripe": ("Stripe-Signature", _from_hex, ""),
    "slack": ("X-Slack-Signature", _from_hex, ""),
    "github": ("X-Hub-Signature-256", _from_hex, "sha256="),
}


def compile_signature(value: Any, env: Mapping[str, Any],
                      path: str = "config.signature") -> SignatureCheck:
    """Validate ``config.signature`` and compile it; secrets written as ``{{$env.NAME}}`` are
    read from ``env`` now. Every problem is a :class:`DefinitionError` at its field path."""
    if not isinstance(value, Mapping):
        raise DefinitionError(path, f"must be an object, got {type_name(value)}")
    if "scheme" not in value:
        raise DefinitionError(join(path, "scheme"), "is required")
    scheme: str = one_of(*SCHEMES)(value["scheme"], join(path, "scheme"))
    fields = SIGNATURE_FIELDS + (HMAC_FIELDS if scheme == "hmac" else ())
    if scheme not in TIMESTAMPED:
        if "tolerance" in value:
            raise DefinitionError(join(path, "tolerance"), f"does not apply: {scheme} "
                                  "signatures carry no timestamp")
        fields = tuple(f for f in fields if f.name != "tolerance")
    spec = check_section(value, fields, path)
    secrets_path = join(path, "secrets")
    keys = tuple(_key(scheme, _render(text, env, join(secrets_path, i)), join(secrets_path, i))
                 for i, text in enumerate(spec["secrets"]))
    algorithm = spec.get("algorithm", "sha256")
    header, decode, prefix = _LAYOUT.get(scheme) or (
        spec["header"], _from_hex if spec["encoding"] == "hex" else _from_base64, spec["prefix"])
    return SignatureCheck(
        scheme=scheme, tolerance=spec.get("tolerance"), header=header,
        digest_size=_DIGEST_SIZES[algorithm], decode=decode, prefix=prefix,
        keys=tuple(hmac.new(key, digestmod=algorithm) for key in keys))
