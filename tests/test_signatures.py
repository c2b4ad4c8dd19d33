"""``config.signature``: every scheme against signatures made the way the real senders make
them, the refusals, secret rotation, ``{{$env.NAME}}`` secrets and the definition errors."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict
from standardwebhooks import Webhook, WebhookVerificationError

from webhook_workflow.errors import DefinitionError, RequestRejected
from webhook_workflow.http.signatures import (
    HMAC_FIELDS,
    MAX_HEADER_LENGTH,
    MAX_SIGNATURES,
    SIGNATURE_FIELDS,
    SignatureCheck,
    compile_signature,
)

NOW = 1_700_000_000
BODY = b'{"type":"invoice.paid","data":{"id":"in_1","amount":4200}}'
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
WHSEC = "whsec_" + base64.b64encode(b"standard-webhooks-key-32-bytes!!").decode()
WHSEC_OLD = "whsec_" + base64.b64encode(b"an-older-key-that-was-rotated-out").decode()
PLAIN = "s3cr3t-for-github"
PLAIN_OLD = "an-older-plain-secret"
TIMESTAMPED = ("standard-webhooks", "stripe", "slack")
SCHEMES = (*TIMESTAMPED, "github", "hmac")


def _mac(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def _sw_key(secret: str) -> bytes:
    return base64.b64decode(secret[len("whsec_"):]) if secret.startswith("whsec_") else \
        secret.encode()


def sign_standard(secret: str, body: bytes, ts: int, msg_id: str = MSG_ID) -> str:
    digest = _mac(_sw_key(secret), f"{msg_id}.{ts}.".encode() + body)
    return "v1," + base64.b64encode(digest).decode()


def sign_stripe(secret: str, body: bytes, ts: int) -> str:
    return _mac(secret.encode(), f"{ts}.".encode() + body).hex()


def sign_slack(secret: str, body: bytes, ts: int) -> str:
    return "v0=" + _mac(secret.encode(), f"v0:{ts}:".encode() + body).hex()


def sign_github(secret: str, body: bytes) -> str:
    return "sha256=" + _mac(secret.encode(), body).hex()


def deliver(scheme: str, secret: str, body: bytes = BODY, ts: int = NOW) -> CIMultiDict[str]:
    """The headers a real sender of ``scheme`` attaches to ``body`` sent at ``ts``."""
    if scheme == "standard-webhooks":
        return CIMultiDict({"webhook-id": MSG_ID, "webhook-timestamp": str(ts),
                            "webhook-signature": sign_standard(secret, body, ts)})
    if scheme == "stripe":
        return CIMultiDict({"Stripe-Signature": f"t={ts},v1={sign_stripe(secret, body, ts)}"})
    if scheme == "slack":
        return CIMultiDict({"X-Slack-Request-Timestamp": str(ts),
                            "X-Slack-Signature": sign_slack(secret, body, ts)})
    if scheme == "github":
        return CIMultiDict({"X-Hub-Signature-256": sign_github(secret, body)})
    return CIMultiDict({"X-Signature": _mac(secret.encode(), body).hex()})


def secret_for(scheme: str, old: bool = False) -> str:
    if scheme == "standard-webhooks":
        return WHSEC_OLD if old else WHSEC
    return PLAIN_OLD if old else PLAIN


def check(scheme: str, *secrets: str, **extra: Any) -> SignatureCheck:
    return compile_signature({"scheme": scheme, "secrets": list(secrets or [secret_for(scheme)]),
                              **extra}, {})


def refused(chk: SignatureCheck, headers: Any, body: bytes = BODY, now: float = NOW) -> str:
    with pytest.raises(RequestRejected) as info:
        chk.verify(headers, body, now)
    assert info.value.status == 401
    assert info.value.headers == ()  # no WWW-Authenticate: nothing to offer a challenge for
    return info.value.message


# -- acceptance ----------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", SCHEMES)
def test_accepts_what_the_sender_signs(scheme: str) -> None:
    chk = check(scheme)
    assert chk.scheme == scheme
    chk.verify(deliver(scheme, secret_for(scheme)), BODY, NOW)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_headers_are_case_insensitive_and_body_is_raw_bytes(scheme: str) -> None:
    body = b"\xff\x00 not json, not utf-8 \r\n"
    headers = CIMultiDict((k.upper(), v) for k, v in deliver(scheme, secret_for(scheme), body)
                          .items())
    check(scheme).verify(headers, body, NOW)


@pytest.mark.parametrize(("algorithm", "encoding", "prefix"), [
    ("sha1", "hex", ""), ("sha256", "hex", "sha256="), ("sha512", "hex", "HMAC "),
    ("sha256", "base64", ""), ("sha512", "base64", "v1="), ("sha1", "base64", "sha1="),
])
def test_generic_hmac_variants(algorithm: str, encoding: str, prefix: str) -> None:
    chk = check("hmac", header="X-Shop-Hmac", algorithm=algorithm, encoding=encoding,
                prefix=prefix)
    digest = _mac(PLAIN.encode(), BODY, algorithm)
    text = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    chk.verify(CIMultiDict({"x-shop-hmac": prefix + text}), BODY, NOW)
    if encoding == "hex":
        chk.verify(CIMultiDict({"X-Shop-Hmac": prefix + text.upper()}), BODY, NOW)
    assert refused(chk, CIMultiDict({"X-Shop-Hmac": text if prefix else "x" + text})) == \
        "malformed X-Shop-Hmac"
    other = _mac(PLAIN.encode(), BODY, "sha1" if algorithm != "sha1" else "sha256")
    wrong = other.hex() if encoding == "hex" else base64.b64encode(other).decode()
    assert refused(chk, CIMultiDict({"X-Shop-Hmac": prefix + wrong})) == "malformed X-Shop-Hmac"


# -- the standardwebhooks package agrees ----------------------------------------------------

@pytest.mark.parametrize("secret", [WHSEC, "whsec_" + WHSEC[6:].rstrip("=")])
def test_standardwebhooks_signatures_are_accepted(secret: str) -> None:
    ts = datetime.fromtimestamp(NOW, tz=UTC)
    signature = Webhook(secret).sign(MSG_ID, ts, BODY.decode())
    headers = CIMultiDict({"webhook-id": MSG_ID, "webhook-timestamp": str(NOW),
                           "webhook-signature": signature})
    compile_signature({"scheme": "standard-webhooks", "secrets": [secret]}, {}).verify(
        headers, BODY, NOW)


def test_standardwebhooks_verifies_our_signatures() -> None:
    now = int(time.time())  # their verify reads the clock
    for secret, theirs in ((WHSEC, Webhook(WHSEC)), ("raw-utf8-key", Webhook(b"raw-utf8-key"))):
        headers = deliver("standard-webhooks", secret, ts=now)
        theirs.verify(BODY, dict(headers), json_parse=False)
        check("standard-webhooks", secret).verify(headers, BODY, now)
        bad = CIMultiDict(headers)
        bad["webhook-signature"] = sign_standard(secret, BODY + b" ", now)
        with pytest.raises(WebhookVerificationError):
            theirs.verify(BODY, dict(bad), json_parse=False)
        assert refused(check("standard-webhooks", secret), bad, now=now) == "signature mismatch"


# -- refusals common to every scheme -------------------------------------------------------

@pytest.mark.parametrize("scheme", SCHEMES)
def test_wrong_secret_and_tampered_body(scheme: str) -> None:
    chk = check(scheme)
    assert refused(chk, deliver(scheme, secret_for(scheme, old=True))) == "signature mismatch"
    headers = deliver(scheme, secret_for(scheme))
    for i in (0, len(BODY) // 2, len(BODY) - 1):
        tampered = bytearray(BODY)
        tampered[i] ^= 0x01
        assert refused(chk, headers, bytes(tampered)) == "signature mismatch"
    assert refused(chk, headers, BODY + b"\n") == "signature mismatch"
    assert refused(chk, headers, b"") == "signature mismatch"


MISSING = {
    "standard-webhooks": ["webhook-id", "webhook-timestamp", "webhook-signature"],
    "stripe": ["Stripe-Signature"],
    "slack": ["X-Slack-Request-Timestamp", "X-Slack-Signature"],
    "github": ["X-Hub-Signature-256"],
    "hmac": ["X-Signature"],
}


@pytest.mark.parametrize(("scheme", "name"), [(s, n) for s, ns in MISSING.items() for n in ns])
def test_missing_and_empty_headers(scheme: str, name: str) -> None:
    chk = check(scheme)
    headers = deliver(scheme, secret_for(scheme))
    del headers[name]
    assert refused(chk, headers) == f"missing header {name}"
    headers[name.upper()] = "  "
    assert refused(chk, headers) == f"empty header {name}"
    headers[name] = "x" * (MAX_HEADER_LENGTH + 1)
    assert refused(chk, headers) == f"header {name} longer than {MAX_HEADER_LENGTH} characters"
    assert refused(chk, CIMultiDict()).startswith("missing header ")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_secret_rotation(scheme: str) -> None:
    new, old = secret_for(scheme), secret_for(scheme, old=True)
    both = check(scheme, new, old)
    both.verify(deliver(scheme, new), BODY, NOW)
    both.verify(deliver(scheme, old), BODY, NOW)
    rotated = check(scheme, new)
    assert refused(rotated, deliver(scheme, old)) == "signature mismatch"


# -- timestamps ----------------------------------------------------------------------------

def _retimed(scheme: str, headers: CIMultiDict[str], ts: str) -> CIMultiDict[str]:
    out = CIMultiDict(headers)
    if scheme == "standard-webhooks":
        out["webhook-timestamp"] = ts
    elif scheme == "slack":
        out["X-Slack-Request-Timestamp"] = ts
    else:
        out["Stripe-Signature"] = "t=" + ts + "," + out["Stripe-Signature"].split(",", 1)[1]
    return out


@pytest.mark.parametrize("scheme", TIMESTAMPED)
@pytest.mark.parametrize("tolerance", [None, 1, 60])
def test_tolerance_boundaries(scheme: str, tolerance: int | None) -> None:
    extra = {} if tolerance is None else {"tolerance": tolerance}
    limit = 300 if tolerance is None else tolerance
    chk = check(scheme, **extra)
    assert chk.tolerance == limit
    headers = deliver(scheme, secret_for(scheme))
    chk.verify(headers, BODY, NOW + limit)
    chk.verify(headers, BODY, NOW - limit)
    assert refused(chk, headers, now=NOW + limit + 1) == "stale timestamp"
    assert refused(chk, headers, now=NOW + limit + 0.001) == "stale timestamp"
    assert refused(chk, headers, now=NOW - limit - 1) == "timestamp too far in the future"
    assert refused(chk, headers, now=NOW + 10 ** 9) == "stale timestamp"


@pytest.mark.parametrize("scheme", TIMESTAMPED)
def test_tampered_and_malformed_timestamps(scheme: str) -> None:
    chk = check(scheme)
    headers = deliver(scheme, secret_for(scheme))
    for moved in (NOW + 1, NOW - 1):
        assert refused(chk, _retimed(scheme, headers, str(moved))) == "signature mismatch"
    fullwidth = "\uff11\uff17\uff10\uff10"
    for bad in ("abc", "-1700000000", "1700000000.5", "1e9", fullwidth, "0x1", "9" * 13, " 1 2"):
        assert refused(chk, _retimed(scheme, headers, bad)) == "malformed timestamp"
    # A future sender timestamp beyond the tolerance, correctly signed, is refused too.
    ahead = deliver(scheme, secret_for(scheme), ts=NOW + 301)
    assert refused(chk, ahead) == "timestamp too far in the future"
    chk.verify(deliver(scheme, secret_for(scheme), ts=NOW + 300), BODY, NOW)


# -- malformed signature headers -----------------------------------------------------------

GOOD_SW = sign_standard(WHSEC, BODY, NOW)
GOOD_HEX = sign_stripe(PLAIN, BODY, NOW)


@pytest.mark.parametrize(("scheme", "name", "value", "message"), [
    ("standard-webhooks", "webhook-signature", "v1" + GOOD_SW[3:], "malformed webhook-signature"),
    ("standard-webhooks", "webhook-signature", "v1,", "malformed webhook-signature"),
    ("standard-webhooks", "webhook-signature", "v1,!!notbase64!!", "malformed webhook-signature"),
    ("standard-webhooks", "webhook-signature", "v1," + base64.b64encode(b"short").decode(),
     "malformed webhook-signature"),
    ("standard-webhooks", "webhook-signature", "v1a," + GOOD_SW[3:],
     "no v1 signature in webhook-signature"),
    ("standard-webhooks", "webhook-signature", GOOD_SW + " junk", "malformed webhook-signature"),
    ("stripe", "Stripe-Signature", f"t={NOW}v1={GOOD_HEX}", "malformed timestamp"),
    ("stripe", "Stripe-Signature", f"t={NOW},{GOOD_HEX}", "malformed Stripe-Signature"),
    ("stripe", "Stripe-Signature", f"v1={GOOD_HEX}", "missing timestamp in Stripe-Signature"),
    ("stripe", "Stripe-Signature", f"t={NOW},t={NOW},v1={GOOD_HEX}",
     "malformed Stripe-Signature"),
    ("stripe", "Stripe-Signature", f"t=,v1={GOOD_HEX}", "malformed timestamp"),
    ("stripe", "Stripe-Signature", f"t={NOW}", "no v1 signature in Stripe-Signature"),
    ("stripe", "Stripe-Signature", f"t={NOW},v0={GOOD_HEX}", "no v1 signature in Stripe-Signature"),
    ("stripe", "Stripe-Signature", f"t={NOW},v1=zz{GOOD_HEX[2:]}", "malformed Stripe-Signature"),
    ("stripe", "Stripe-Signature", f"t={NOW},v1={GOOD_HEX[:-1]}", "malformed Stripe-Signature"),
    ("stripe", "Stripe-Signature", f"t={NOW},v1=", "malformed Stripe-Signature"),
    ("slack", "X-Slack-Signature", "v0" + sign_slack(PLAIN, BODY, NOW)[3:],
     "malformed X-Slack-Signature"),
    ("slack", "X-Slack-Signature", "v1=" + sign_slack(PLAIN, BODY, NOW)[3:],
     "malformed X-Slack-Signature"),
    ("slack", "X-Slack-Signature", "v0=", "malformed X-Slack-Signature"),
    ("slack", "X-Slack-Signature", "v0=" + "g" * 64, "malformed X-Slack-Signature"),
    ("github", "X-Hub-Signature-256", sign_github(PLAIN, BODY)[7:],
     "malformed X-Hub-Signature-256"),
    ("github", "X-Hub-Signature-256", "sha1=" + sign_github(PLAIN, BODY)[7:47],
     "malformed X-Hub-Signature-256"),
    ("github", "X-Hub-Signature-256", "sha256=", "malformed X-Hub-Signature-256"),
    ("github", "X-Hub-Signature-256", "sha256=" + "é" * 64, "malformed X-Hub-Signature-256"),
    ("hmac", "X-Signature", "not hex at all", "malformed X-Signature"),
])
def test_malformed_signature_values(scheme: str, name: str, value: str, message: str) -> None:
    headers = deliver(scheme, secret_for(scheme))
    headers[name] = value
    assert refused(check(scheme), headers) == message


def test_several_signatures_one_matching() -> None:
    sw = check("standard-webhooks", WHSEC)
    wrong = sign_standard(WHSEC_OLD, BODY, NOW)
    for value in (f"{wrong} {GOOD_SW}", f"{GOOD_SW} {wrong}", f"v1a,AAAA  v1,!!! {GOOD_SW}"):
        headers = deliver("standard-webhooks", WHSEC)
        headers["webhook-signature"] = value
        sw.verify(headers, BODY, NOW)
    stripe = check("stripe", PLAIN)
    old = sign_stripe(PLAIN_OLD, BODY, NOW)
    for value in (f"t={NOW},v1={old},v1={GOOD_HEX}", f"t={NOW}, v0=ab, v1={GOOD_HEX}, v1={old}",
                  f"v1={GOOD_HEX},t={NOW}", f"t={NOW},v1=nothex,v1={GOOD_HEX}"):
        stripe.verify(CIMultiDict({"Stripe-Signature": value}), BODY, NOW)
    # Only the first MAX_SIGNATURES are examined: a match after them does not count.
    many = " ".join([wrong] * MAX_SIGNATURES + [GOOD_SW])
    headers = deliver("standard-webhooks", WHSEC)
    headers["webhook-signature"] = many
    assert refused(sw, headers) == "signature mismatch"
    many_stripe = f"t={NOW}," + ",".join([f"v1={old}"] * MAX_SIGNATURES + [f"v1={GOOD_HEX}"])
    assert refused(stripe, CIMultiDict({"Stripe-Signature": many_stripe})) == \
        "signature mismatch"


def test_repeated_header_uses_the_first_field() -> None:
    chk = check("github")
    good, bad = sign_github(PLAIN, BODY), sign_github(PLAIN_OLD, BODY)
    chk.verify(CIMultiDict([("X-Hub-Signature-256", good), ("X-Hub-Signature-256", bad)]),
               BODY, NOW)
    headers = CIMultiDict([("X-Hub-Signature-256", bad), ("x-hub-signature-256", good)])
    assert refused(chk, headers) == "signature mismatch"


def test_messages_never_reveal_secrets_or_expected_signatures() -> None:
    env = {"HOOK_SECRET": "from-the-env-secret"}
    secrets = [WHSEC, WHSEC_OLD, PLAIN, PLAIN_OLD, env["HOOK_SECRET"]]
    messages: list[str] = []
    for scheme in SCHEMES:
        chk = compile_signature({"scheme": scheme, "secrets": [
            secret_for(scheme), "{{$env.HOOK_SECRET}}"]}, env)
        assert "secret" not in repr(chk) and PLAIN not in repr(chk)
        good = deliver(scheme, secret_for(scheme))
        cases = [deliver(scheme, PLAIN_OLD), CIMultiDict()]
        for name, value in good.items():
            cases.append(CIMultiDict({**good, name: value + "0"}))
            cases.append(CIMultiDict({**good, name: value[:-1]}))
        for headers in cases:
            for body, now in ((BODY, NOW), (BODY + b"x", NOW), (BODY, NOW + 10_000)):
                with pytest.raises(RequestRejected) as info:
                    chk.verify(headers, body, now)
                messages.append(str(info.value))
                messages.append(info.value.message)
    expected = [GOOD_SW[3:], GOOD_HEX, sign_slack(PLAIN, BODY, NOW)[3:],
                sign_github(PLAIN, BODY)[7:], _mac(PLAIN.encode(), BODY).hex()]
    for message in messages:
        for text in [*secrets, *expected, WHSEC[6:], "whsec_"]:
            assert text not in message
        assert len(message) < 80


# -- {{$env.NAME}} secrets ----------------------------------------------------------------

@pytest.mark.parametrize("scheme", SCHEMES)
def test_env_secrets_are_rendered_at_compile_time(scheme: str) -> None:
    env = {"NEW": secret_for(scheme), "OLD": secret_for(scheme, old=True)}
    chk = compile_signature({"scheme": scheme, "secrets": ["{{$env.NEW}}", "{{ $env.OLD }}"]},
                            env)
    env.clear()  # the values were read at registration
    chk.verify(deliver(scheme, secret_for(scheme)), BODY, NOW)
    chk.verify(deliver(scheme, secret_for(scheme, old=True)), BODY, NOW)


@pytest.mark.parametrize(("env", "text", "message"), [
    ({}, "{{$env.HOOK_SECRET}}", "$env.HOOK_SECRET is not set in the engine's env"),
    ({"HOOK_SECRET": ""}, "{{$env.HOOK_SECRET}}", "$env.HOOK_SECRET is not set"),
    ({"HOOK_SECRET": None}, "{{$env.HOOK_SECRET}}", "$env.HOOK_SECRET is not set"),
    ({"X": "y"}, "prefix-{{$env.X}}", "a secret is literal text or exactly {{$env.NAME}}"),
    ({"X": "y"}, "{{$context.body.x}}", "a secret is literal text or exactly {{$env.NAME}}"),
    ({"X": "whsec_!!!"}, "{{$env.X}}", "a whsec_ secret must be base64 after the prefix"),
])
def test_env_secret_errors(env: dict[str, Any], text: str, message: str) -> None:
    with pytest.raises(DefinitionError) as info:
        compile_signature({"scheme": "standard-webhooks", "secrets": [WHSEC, text]}, env)
    assert info.value.path == "config.signature.secrets[1]"
    assert message in info.value.reason
    assert "!!!" not in str(info.value)


# -- definition errors ---------------------------------------------------------------------

@pytest.mark.parametrize(("value", "path", "reason"), [
    ("github", "config.signature", "must be an object, got string"),
    ({"secrets": [PLAIN]}, "config.signature.scheme", "is required"),
    ({"scheme": "gitlab", "secrets": [PLAIN]}, "config.signature.scheme", "must be one of"),
    ({"scheme": None, "secrets": [PLAIN]}, "config.signature.scheme", "must be one of"),
    ({"scheme": "github"}, "config.signature.secrets", "is required"),
    ({"scheme": "github", "secrets": PLAIN}, "config.signature.secrets",
     "must be an array of strings, got string"),
    ({"scheme": "github", "secrets": []}, "config.signature.secrets", "at least one secret"),
    ({"scheme": "github", "secrets": ["a"] * 11}, "config.signature.secrets", "at most 10"),
    ({"scheme": "github", "secrets": [PLAIN, ""]}, "config.signature.secrets[1]",
     "must be a non-empty string, got an empty string"),
    ({"scheme": "github", "secrets": [PLAIN, 42]}, "config.signature.secrets[1]",
     "must be a non-empty string, got number"),
    ({"scheme": "standard-webhooks", "secrets": ["whsec_"]}, "config.signature.secrets[0]",
     "must not be empty after the prefix"),
    ({"scheme": "standard-webhooks", "secrets": ["whsec_a$b"]}, "config.signature.secrets[0]",
     "must be base64 after the prefix"),
    ({"scheme": "github", "secrets": [PLAIN], "secret": PLAIN}, "config.signature.secret",
     "unknown field (allowed: scheme, secrets)"),
    ({"scheme": "github", "secrets": [PLAIN], "tolerance": 300}, "config.signature.tolerance",
     "does not apply: github signatures carry no timestamp"),
    ({"scheme": "hmac", "secrets": [PLAIN], "tolerance": 300}, "config.signature.tolerance",
     "does not apply"),
    ({"scheme": "stripe", "secrets": [PLAIN], "header": "X-Sig"}, "config.signature.header",
     "unknown field (allowed: scheme, secrets, tolerance)"),
    ({"scheme": "slack", "secrets": [PLAIN], "tolerance": 0}, "config.signature.tolerance",
     "must be >= 1"),
    ({"scheme": "slack", "secrets": [PLAIN], "tolerance": "300"}, "config.signature.tolerance",
     "must be an integer"),
    ({"scheme": "slack", "secrets": [PLAIN], "tolerance": 1.5}, "config.signature.tolerance",
     "must be an integer"),
    ({"scheme": "hmac", "secrets": [PLAIN], "algorithm": "md5"}, "config.signature.algorithm",
     "must be one of 'sha1', 'sha256', 'sha512'"),
    ({"scheme": "hmac", "secrets": [PLAIN], "encoding": "base32"}, "config.signature.encoding",
     "must be one of 'hex', 'base64'"),
    ({"scheme": "hmac", "secrets": [PLAIN], "header": "X Sig"}, "config.signature.header",
     "must be a header name"),
    ({"scheme": "hmac", "secrets": [PLAIN], "prefix": "a\r\nb"}, "config.signature.prefix",
     "must be printable ASCII"),
    ({"scheme": "hmac", "secrets": [PLAIN], "prefix": " sha256="}, "config.signature.prefix",
     "must be printable ASCII not starting with a space"),
    ({"scheme": "hmac", "secrets": [PLAIN], "extra": 1}, "config.signature.extra",
     "unknown field (allowed: algorithm, encoding, header, prefix, scheme, secrets)"),
])
def test_definition_errors(value: Any, path: str, reason: str) -> None:
    with pytest.raises(DefinitionError) as info:
        compile_signature(value, {})
    assert info.value.path == path
    assert reason in info.value.reason
    assert PLAIN not in str(info.value)


def test_definition_error_path_follows_the_caller() -> None:
    with pytest.raises(DefinitionError) as info:
        compile_signature({"scheme": "github", "secrets": [1]}, {}, "workflows[2].signature")
    assert str(info.value).startswith("workflows[2].signature.secrets[0]: ")


def test_defaults_and_field_tables() -> None:
    chk = check("hmac")
    assert (chk.header, chk.prefix, chk.digest_size, chk.tolerance) == ("X-Signature", "", 32,
                                                                         None)
    assert check("stripe").tolerance == 300
    assert [f.name for f in SIGNATURE_FIELDS] == ["scheme", "secrets", "tolerance"]
    assert {f.name: f.default for f in HMAC_FIELDS} == {
        "header": "X-Signature", "algorithm": "sha256", "encoding": "hex", "prefix": ""}
    assert all(f.doc for f in SIGNATURE_FIELDS + HMAC_FIELDS)


def test_an_unprefixed_standard_webhooks_secret_is_utf8() -> None:
    secret = "ключ-без-префикса"
    chk = check("standard-webhooks", secret)
    ts = datetime.fromtimestamp(NOW, tz=UTC)
    signature = Webhook(secret.encode()).sign(MSG_ID, ts, BODY.decode())
    chk.verify(CIMultiDict({"webhook-id": MSG_ID, "webhook-timestamp": str(NOW),
                            "webhook-signature": signature}), BODY, NOW)


# -- the compiled check ---------------------------------------------------------------------

def test_compiled_check_is_immutable_and_thread_safe() -> None:
    chk = check("stripe", PLAIN, PLAIN_OLD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        chk.scheme = "github"  # type: ignore[misc]
    bodies = [BODY + str(i).encode() for i in range(64)]
    good = [(deliver("stripe", PLAIN if i % 2 else PLAIN_OLD, b), b) for i, b in enumerate(bodies)]
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def hammer() -> None:
        start.wait()
        try:
            for _ in range(20):
                for headers, body in good:
                    chk.verify(headers, body, NOW)
                for headers, body in good[:8]:
                    with pytest.raises(RequestRejected):
                        chk.verify(headers, body + b"!", NOW)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


# -- the documentation's examples ------------------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "guards" / "signatures.md"
FAKE_CURL = r"""
curl() {
  n=$(( $(ls "$OUT" | wc -l) ))
  : > "$OUT/$n"
  while [ $# -gt 0 ]; do
    case "$1" in
      -H) printf 'H %s\n' "$2" >> "$OUT/$n"; shift 2 ;;
      --data-binary) printf '%s' "$2" > "$DIR/$n.body"; shift 2 ;;
      *) shift ;;
    esac
  done
}
"""


def _doc_examples() -> list[tuple[str, str, str, list[str]]]:
    """Per scheme section: the definition, the shell block and the answers it promises."""
    out = []
    for section in DOC.read_text(encoding="utf-8").split("\n### `")[1:]:
        scheme = section.split("`", 1)[0]
        definition = section.split("```json\n", 1)[1].split("```", 1)[0]
        shell = section.split("```sh\n", 1)[1].split("```", 1)[0]
        answers = [line[2:] for line in shell.splitlines() if line.startswith("# ")]
        out.append((scheme, definition, shell, answers))
    return out


DOC_EXAMPLES = _doc_examples()


@pytest.mark.skipif(not (shutil.which("bash") and shutil.which("openssl")),
                    reason="needs bash and openssl")
@pytest.mark.parametrize(("scheme", "definition", "shell", "answers"), DOC_EXAMPLES,
                         ids=[example[0] for example in DOC_EXAMPLES])
def test_documented_curl_examples(scheme: str, definition: str, shell: str, answers: list[str],
                                  tmp_path: Path) -> None:
    chk = compile_signature(json.loads(definition)["config"]["signature"], {})
    assert chk.scheme == scheme
    out, bodies = tmp_path / "calls", tmp_path / "bodies"
    out.mkdir()
    bodies.mkdir()
    subprocess.run(["bash", "-euc", FAKE_CURL + shell], check=True, timeout=30,
                   env={**os.environ, "OUT": str(out), "DIR": str(bodies)})
    assert len(answers) == 2 and answers[0] == "passes: the workflow's answer"
    now = time.time()
    for n, answer in enumerate(answers):
        headers: CIMultiDict[str] = CIMultiDict()
        for line in (out / str(n)).read_text().splitlines():
            name, _, value = line[2:].partition(": ")
            headers.add(name, value)
        body = (bodies / f"{n}.body").read_bytes()
        if n == 0:
            chk.verify(headers, body, now)
        else:
            assert json.loads(answer) == {"errors": [{"message": refused(chk, headers, body,
                                                                          now)}]}
