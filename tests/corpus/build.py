"""Write the bad-input corpus: ``NNN-name.http`` (bytes exactly as on the wire) and
``expected.json`` (what each request must get).

Run ``python tests/corpus/build.py`` after editing a case; the files are committed, so the
tests never depend on this script. The workflows the requests target are in ``workflows/``
plus ``examples/payment-callback.json``:

- ``payment-callback`` (seed example): sync, Basic auth ``shop:s3cret``;
- ``async-hook``: async, answers ``202 accepted`` once the execution is recorded;
- ``strict-hook``: sync, ``strictContentType``, ``maxBodySize`` 1024;
- ``echo-hook``: sync, answers ``{"query": ..., "body": ...}`` as parsed;
- ``disabled-hook``: disabled (404).

``expected.json`` maps a file name to an expectation:

``status``
    the answer of the doors in process (an int, a list of acceptable ints, or null for "no
    answer": the client went away first);
``message``
    a substring of ``errors[0].message`` when the door itself refused the request;
``json``
    the exact JSON body of an accepted request;
``executes``
    whether the request creates an execution (default false);
``unread``
    a 413 decided from ``Content-Length``: the door reads no body byte;
``half_close``
    the client shuts its sending side after the request (an overstated ``Content-Length``);
``door``
    false when no server would hand the request to a door (only the server tier sees it);
``wsgi`` / ``asgi`` / ``threaded`` / ``uvicorn``
    overrides for one door or one server (``threaded`` inherits from ``wsgi``, ``uvicorn``
    from ``asgi``); ``"server": true`` means the server answered on its own, before any door
    (its body is not ours, so only the status is checked);
``error_shape``
    the answer must be the error body even though an execution ran (a node failed);
``absent_header``
    a header name the answer must not carry (header injection);
``server_status``
    statuses the server may answer on its own instead (uvicorn, for request heads over 16 KiB
    that arrive in several reads);
``why``
    one line on what the case is about.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

SEED = b"/api/webhook:trigger/payment-callback"
ASYNC = b"/api/webhook:trigger/async-hook"
STRICT = b"/api/webhook:trigger/strict-hook"
ECHO = b"/api/webhook:trigger/echo-hook"
DISABLED = b"/api/webhook:trigger/disabled-hook"

GOOD_AUTH = base64.b64encode(b"shop:s3cret")
AUTH = b"Authorization: Basic " + GOOD_AUTH
JSON = b"Content-Type: application/json"
PAID = b'{"order":{"id":"A1","status":"paid"}}'
PAID_JSON = {"ok": True, "id": "A1", "request": "r-1"}
PAID_NO_ID = {"ok": True, "id": "A1", "request": None}

ACCEPTED = {"status": 202, "executes": True}

CASES: list[tuple[str, bytes, dict[str, Any]]] = []


def request(method: bytes = b"POST", target: bytes = SEED, headers: list[bytes] | None = None,
            body: bytes = b"", *, length: bool = True, host: bool = True,
            version: bytes = b"HTTP/1.1") -> bytes:
    """A request as on the wire; ``Host`` first, ``Content-Length`` last (when ``length``)."""
    lines = [method + b" " + target + b" " + version]
    if host:
        lines.append(b"Host: 127.0.0.1")
    lines.extend(headers or [])
    if length:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def seed(body: bytes = PAID, *, extra: list[bytes] | None = None, auth: bytes | None = AUTH,
         target: bytes = SEED + b"?source=corpus", method: bytes = b"POST",
         length: bool = True, host: bool = True, version: bytes = b"HTTP/1.1") -> bytes:
    """A request to the seed workflow; good unless a part is spoilt."""
    headers = [] if auth is None else [auth]
    headers += [JSON, b"X-Request-Id: r-1", *(extra or [])]
    return request(method, target, headers, body, length=length, host=host, version=version)


def echo(body: bytes = b"{}", query: bytes = b"", *, content_type: bytes | None = JSON,
         extra: list[bytes] | None = None) -> bytes:
    target = ECHO + (b"?" + query if query else b"")
    headers = [content_type] if content_type is not None else []
    return request(b"POST", target, [*headers, *(extra or [])], body)


def strict(body: bytes = b'{"a":1}', *, content_type: bytes | None = JSON,
           extra: list[bytes] | None = None, length: bool = True) -> bytes:
    headers = [content_type] if content_type is not None else []
    return request(b"POST", STRICT, [*headers, *(extra or [])], body, length=length)


def chunked(body: bytes, size: int = 256) -> bytes:
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


#: uvicorn's HTTP parser (h11) buffers at most 16 KiB of an unfinished request head; when a
#: longer head arrives in several reads it answers 400 on its own, before the door sees it.
H11_HEAD_BUFFER = 16 * 1024


def case(name: str, data: bytes, why: str, **expected: Any) -> None:
    head = data.split(b"\r\n\r\n", 1)[0]
    if len(head) > H11_HEAD_BUFFER and "uvicorn" not in expected:
        expected["uvicorn"] = {"server_status": [400]}
    expected["why"] = why
    CASES.append((name, data, expected))


def refused(status: int, message: str, **more: Any) -> dict[str, Any]:
    return {"status": status, "message": message, **more}


SERVER_400 = {"status": 400, "server": True}


def build() -> None:
    # -- requests that must work (baselines) -------------------------------------------------
    case("good-seed", seed(), "the seed example, as documented",
         status=200, json=PAID_JSON, executes=True)
    case("good-async", request(b"POST", ASYNC, [JSON], b'{"n":1}'),
         "an async workflow acknowledges once the execution is recorded", **ACCEPTED)
    case("good-strict", strict(), "strictContentType accepts application/json",
         status=200, json={"ok": True, "body": {"a": 1}}, executes=True)
    case("good-echo", echo(b'{"x":[1,2]}', b"a[b]=1&c=2&c=3"), "query and body parsed",
         status=200, executes=True,
         json={"query": {"a": {"b": "1"}, "c": ["2", "3"]}, "body": {"x": [1, 2]}})
    case("good-http10", seed(version=b"HTTP/1.0"), "HTTP/1.0 is served",
         status=200, json=PAID_JSON, executes=True)

    # -- methods (row 4; 405 precedes 401) -----------------------------------------------------
    for method in (b"GET", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE"):
        body = b"" if method in (b"GET", b"OPTIONS", b"TRACE") else PAID
        case(f"method-{method.decode().lower()}", seed(body, method=method),
             f"{method.decode()} is not POST", **refused(405, "not allowed; use POST"))
    case("method-head", seed(b"", method=b"HEAD"), "HEAD is not POST (no body on the wire)",
         **refused(405, "not allowed; use POST"), head=True)
    case("method-lowercase-post", seed(method=b"post"), "methods are case-sensitive",
         **refused(405, "method post not allowed"))
    case("method-unknown", seed(method=b"BREW"), "an unknown method",
         **refused(405, "method BREW not allowed"))
    case("method-get-no-auth", seed(b"", method=b"GET", auth=None),
         "405 comes before 401", **refused(405, "not allowed"))
    case("method-long", seed(method=b"P" * 2000), "a 2000-character method name",
         **refused(405, "not allowed"))
    case("method-odd-chars", seed(method=b"PO$T!"), "token characters the door has to refuse",
         **refused(405, "not allowed"))
    case("method-not-token", seed(method=b"P(ST"), "'(' is not a token character",
         door=False, threaded=refused(400, "malformed request line"), uvicorn=SERVER_400)

    # -- malformed request lines (no door sees them) ------------------------------------------
    case("line-garbage", b"HELLO\r\n\r\n", "not a request line",
         door=False, threaded=refused(400, "malformed request line"), uvicorn=SERVER_400)
    case("line-two-parts", b"POST " + SEED + b"\r\nHost: x\r\n\r\n", "no HTTP version",
         door=False, threaded=refused(400, "malformed request line"), uvicorn=SERVER_400)
    case("line-http2", seed(version=b"HTTP/2.0"), "HTTP/2.0 in an HTTP/1 request line",
         door=False, threaded=refused(505, "HTTP version not supported"),
         uvicorn={"status": 200, "executes": True})
    case("line-bad-version", seed(version=b"HTTX/1.1"), "not an HTTP version",
         door=False, threaded=refused(400, "malformed request line"), uvicorn=SERVER_400)
    case("line-control-char", seed(target=SEED + b"\x01"), "a control character in the target",
         door=False, threaded=refused(400, "control character"), uvicorn=SERVER_400)
    case("line-bare-lf", b"POST " + ASYNC + b" HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}",
         "bare LF line ends (servers accept them)", door=False,
         threaded=ACCEPTED, uvicorn=ACCEPTED)

    # -- headers (row 1: 431) ---------------------------------------------------------------
    one_host = refused(400, "exactly one Host header")  # RFC 9112 3.2
    case("header-missing-host", seed(host=False), "HTTP/1.1 without Host",
         status=200, json=PAID_JSON, executes=True, uvicorn=SERVER_400, threaded=one_host)
    bad_field = refused(400, "malformed header field")
    case("header-no-colon", seed(extra=[b"Broken header line"]), "a header line without ':'",
         door=False, threaded=bad_field, uvicorn=SERVER_400)
    case("header-space-before-colon", seed(extra=[b"X-Spaced : 1"]),
         "whitespace between name and ':' (RFC 9112 says reject)",
         door=False, threaded=bad_field, uvicorn=SERVER_400)
    case("header-nul-value", seed(extra=[b"X-Nul: a\x00b"]), "NUL in a header value",
         status=200, json=PAID_JSON, executes=True, uvicorn=SERVER_400,
         threaded=refused(400, "control character in a header field value"))
    case("header-latin1-value", seed(extra=[b"X-Latin: caf\xe9"]),
         "obs-text (a latin-1 byte) in an unused header value",
         status=200, json=PAID_JSON, executes=True)
    many = [b"X-H%03d: v" % i for i in range(101)]
    case("header-count-101", seed(extra=many), "101 extra header fields",
         **refused(431, "more than 100 header fields"))
    case("header-count-101-no-auth", seed(extra=many, auth=None), "431 comes before 401",
         **refused(431, "more than 100 header fields"))
    exactly = [b"X-H%03d: v" % i for i in range(95)]  # Host, auth, type, id, length: 100
    case("header-count-100", seed(extra=exactly), "exactly 100 header fields",
         status=200, json=PAID_JSON, executes=True)
    case("header-count-300", seed(extra=[b"X-H%03d: v" % i for i in range(300)]),
         "300 header fields", **refused(431, "more than 100 header fields"))
    case("header-size-17k", seed(extra=[b"X-Big: " + b"a" * 17000]), "one 17 KB header",
         **refused(431, "header fields larger than 16384 bytes"))
    case("header-size-spread", seed(extra=[b"X-Big%d: " % i + b"b" * 1700 for i in range(10)]),
         "ten 1.7 KB headers: 17 KB in total",
         **refused(431, "header fields larger than 16384 bytes"))
    case("header-size-70k", seed(extra=[b"X-Huge: " + b"c" * 70000]),
         "one 70 KB header (over the stdlib server's line limit)",
         **refused(431, "header fields larger than 16384 bytes"))
    case("header-size-under", seed(extra=[b"X-Big: " + b"a" * 16000]),
         "16 KB of headers in total: within the limit",
         status=200, json=PAID_JSON, executes=True)
    case("header-duplicate-request-id", seed(extra=[b"X-Request-Id: r-2"]),
         "a repeated header is joined", status=200, executes=True)
    case("header-obs-fold", seed(extra=[b"X-Folded: a", b"  continued"]),
         "an obs-fold continuation line (servers unfold it; serve refuses it, RFC 9112 5.2)",
         status=200, json=PAID_JSON, executes=True,
         threaded=refused(400, "obsolete line folding"))
    case("header-duplicate-host", seed(extra=[b"Host: other"]), "two Host headers",
         status=200, json=PAID_JSON, executes=True, uvicorn=SERVER_400, threaded=one_host)

    # -- Basic auth (row 6) --------------------------------------------------------------------
    def auth(name: str, value: bytes | None, why: str, **expected: Any) -> None:
        if not expected:
            expected = refused(401, "authentication required")
        header = None if value is None else b"Authorization:" + (b" " + value if value else b"")
        case(f"auth-{name}", seed(auth=header), why, **expected)

    auth("missing", None, "no Authorization header")
    auth("empty", b"", "an empty Authorization value")
    auth("scheme-only", b"Basic", "the scheme without credentials")
    auth("scheme-space", b"Basic ", "the scheme and a space")
    auth("garbage", b"Basic !!!not-base64!!!", "not base64")
    auth("bad-padding", b"Basic " + GOOD_AUTH.rstrip(b"="), "base64 without its padding")
    auth("trailing-garbage", b"Basic " + GOOD_AUTH + b"xyz", "valid base64 then garbage")
    auth("no-colon", b"Basic " + base64.b64encode(b"shops3cret"), "user:pass without ':'")
    auth("wrong-password", b"Basic " + base64.b64encode(b"shop:nope"), "a wrong password")
    auth("wrong-user", b"Basic " + base64.b64encode(b"shoq:s3cret"), "a wrong username")
    auth("empty-user", b"Basic " + base64.b64encode(b":s3cret"), "an empty username")
    auth("extra-colon", b"Basic " + base64.b64encode(b"shop:s3cret:"),
         "a password with an extra ':' is another password")
    auth("prefix-password", b"Basic " + base64.b64encode(b"shop:s3cre"), "a password prefix")
    auth("unicode-raw", "Basic ééé".encode(), "raw UTF-8 bytes in the value")
    auth("unicode-decoded", b"Basic " + base64.b64encode("shöp:s3crét".encode()),
         "non-ASCII credentials")
    auth("non-utf8-credentials", b"Basic " + base64.b64encode(b"\xff\xfe:\xff"),
         "credentials that are not UTF-8")
    auth("very-long", b"Basic " + base64.b64encode(b"shop:" + b"x" * 9000),
         "12 KB of credentials")
    auth("wrong-scheme", b"Bearer " + GOOD_AUTH, "another scheme")
    auth("digest", b'Digest username="shop", realm="webhook"', "Digest credentials")
    auth("tab-separator", b"Basic\t" + GOOD_AUTH, "a tab between scheme and credentials")
    auth("lowercase-scheme", b"basic " + GOOD_AUTH, "the scheme name is case-insensitive",
         status=200, json=PAID_JSON, executes=True)
    auth("uppercase-scheme", b"BASIC " + GOOD_AUTH, "the scheme name is case-insensitive",
         status=200, json=PAID_JSON, executes=True)
    auth("two-spaces", b"Basic  " + GOOD_AUTH, "1*SP between scheme and credentials",
         status=200, json=PAID_JSON, executes=True)
    case("auth-duplicated", seed(extra=[AUTH]), "two Authorization headers are one joined "
         "value, which is not valid credentials", **refused(401, "authentication required"))
    case("auth-proxy-only", seed(auth=b"Proxy-Authorization: Basic " + GOOD_AUTH),
         "Proxy-Authorization is not Authorization", **refused(401, "authentication"))
    case("auth-before-size", seed(b"{", auth=None, extra=[b"Content-Length: 2000000"],
                                  length=False), "401 comes before 413",
         **refused(401, "authentication required"), unread=True)

    # -- Content-Length and body size (row 7, and the 400s between rows) ------------------------
    def length(name: str, value: bytes, why: str, body: bytes = PAID, **expected: Any) -> None:
        case(f"length-{name}", seed(body, extra=[b"Content-Length: " + value], length=False),
             why, **expected)

    length("over-limit", b"2000000", "Content-Length over 1 MiB: 413, body unread",
           body=b'{"order":', **refused(413, "body larger than 1048576 bytes"), unread=True)
    length("just-over", b"1048577", "one byte over the limit", body=b"",
           **refused(413, "body larger than 1048576 bytes"), unread=True)
    length("30-digits", b"9" * 30, "a 30-digit Content-Length", body=b"",
           **refused(413, "body larger than"), unread=True, uvicorn=SERVER_400)
    length("5000-digits", b"9" * 5000, "a Content-Length past int()'s digit limit", body=b"",
           status=[400, 413], unread=True, uvicorn=SERVER_400)
    length("negative", b"-1", "a negative Content-Length",
           **refused(400, "invalid Content-Length"), uvicorn=SERVER_400)
    length("garbage", b"abc", "a Content-Length that is not a number",
           **refused(400, "invalid Content-Length"), uvicorn=SERVER_400)
    length("plus-sign", b"+37", "a signed Content-Length",
           **refused(400, "invalid Content-Length"), uvicorn=SERVER_400)
    length("hex", b"0x25", "a hexadecimal Content-Length",
           **refused(400, "invalid Content-Length"), uvicorn=SERVER_400)
    length("fullwidth-digits", "\uff13\uff17".encode(), "Unicode digits",
           **refused(400, "invalid Content-Length"), uvicorn=SERVER_400)
    length("understated", b"10", "Content-Length shorter than the body: the body is cut",
           **refused(400, "invalid JSON"))
    length("overstated", b"100", "Content-Length longer than what the client sends",
           **refused(400, "body shorter than Content-Length"), half_close=True,
           asgi={"status": None})
    case("length-duplicate-same", seed(extra=[b"Content-Length: %d" % len(PAID)]),
         "Content-Length twice with the same value: refused as ambiguous framing where the "
         "door sees both (h11 and the stdlib server keep one)",
         **refused(400, "more than one Content-Length"),
         threaded={"status": 200, "executes": True}, uvicorn={"status": 200, "executes": True})
    case("length-duplicate-different", seed(extra=[b"Content-Length: 5"]),
         "Content-Length twice with different values (a smuggling pattern)",
         **refused(400, "more than one Content-Length"), threaded={"status": 400},
         uvicorn=SERVER_400)
    case("length-missing-body-sent", request(b"POST", ASYNC, [JSON], b'{"n":1}', length=False),
         "a body without Content-Length or chunked framing is no body", **ACCEPTED)
    case("length-zero", request(b"POST", ASYNC, [JSON], b""), "an empty body is {}",
         **ACCEPTED)

    # -- chunked bodies (rows 7 and 8) ---------------------------------------------------------
    te = b"Transfer-Encoding: chunked"
    case("chunked-seed", seed(chunked(PAID, 7), extra=[te], length=False),
         "a chunked body: read by servers that decode it",
         status=200, json=PAID_JSON, executes=True)
    case("chunked-with-length", seed(chunked(PAID, 7), extra=[te]),
         "chunked and Content-Length together (CL.TE smuggling): refused as ambiguous framing "
         "(RFC 9112 6.3), the connection closed, nothing run; the in-process WSGI server "
         "drops Content-Length of a chunked body, as waitress does",
         **refused(400, "both Content-Length and Transfer-Encoding"),
         wsgi={"status": 200, "json": PAID_JSON, "executes": True},
         threaded=refused(400, "both Content-Length and Transfer-Encoding"))
    case("chunked-over-limit", strict(chunked(b'{"a":"' + b"x" * 2000 + b'"}', 100),
                                      extra=[te], length=False),
         "a chunked body that passes maxBodySize while it is read",
         **refused(413, "body larger than 1024 bytes"))
    case("chunked-within-limit", strict(chunked(b'{"a":"' + b"x" * 900 + b'"}', 100),
                                        extra=[te], length=False),
         "a chunked body within maxBodySize", status=200, executes=True)
    case("chunked-bad-framing", seed(b"zz\r\nabc\r\n0\r\n\r\n", extra=[te], length=False),
         "a chunk size that is not hexadecimal", door=False,
         threaded=refused(400, "malformed chunk size"), uvicorn=SERVER_400)
    case("chunked-capitalised", seed(chunked(PAID), extra=[b"Transfer-Encoding: Chunked"],
                                     length=False),
         "the coding name is case-insensitive", status=200, json=PAID_JSON, executes=True)

    # -- strictContentType (row 10) and maxBodySize ----------------------------------------------
    case("strict-no-type", strict(content_type=None), "no Content-Type with a body",
         **refused(415, "Content-Type must be application/json"))
    case("strict-text-plain", strict(content_type=b"Content-Type: text/plain"), "text/plain",
         **refused(415, "Content-Type must be application/json"))
    case("strict-form", strict(b"a=1", content_type=b"Content-Type: "
                               b"application/x-www-form-urlencoded"), "a form body",
         **refused(415, "Content-Type must be application/json"))
    case("strict-multipart", strict(b"--x\r\n\r\n--x--", content_type=b"Content-Type: "
                                    b"multipart/form-data; boundary=x"), "multipart",
         **refused(415, "Content-Type must be application/json"))
    case("strict-text-json", strict(content_type=b"Content-Type: text/json"),
         "text/json is not a JSON media type here", **refused(415, "application/json"))
    case("strict-415-before-400", strict(b"{not json", content_type=b"Content-Type: text/x"),
         "415 comes before the JSON check", **refused(415, "application/json"))
    case("strict-plus-json", strict(content_type=b"Content-Type: application/problem+json"),
         "application/*+json is JSON", status=200, executes=True,
         json={"ok": True, "body": {"a": 1}})
    case("strict-empty-no-type", strict(b"", content_type=None),
         "no body and no Content-Type: nothing to refuse",
         status=200, executes=True, json={"ok": True, "body": {}})
    case("strict-bad-json", strict(b'{"a":'), "strict and invalid JSON: 400",
         **refused(400, "invalid JSON"))
    exact = b'{"a":"' + b"x" * (1024 - 8) + b'"}'
    case("strict-size-exact", strict(exact), "exactly maxBodySize bytes",
         status=200, executes=True)
    case("strict-size-over", strict(exact + b" "), "maxBodySize + 1 bytes",
         **refused(413, "body larger than 1024 bytes"), unread=True)

    # -- JSON bodies (row 11) -----------------------------------------------------------------
    def body(name: str, data: bytes, why: str, *, content_type: bytes | None = JSON,
             **expected: Any) -> None:
        case(f"json-{name}", echo(data, content_type=content_type), why, **expected)

    def bad(message: str) -> dict[str, Any]:
        return refused(400, message)

    body("truncated", b'{"a":[1,2', "truncated JSON", **bad("invalid JSON"))
    body("trailing-garbage", b'{"a":1} xyz', "data after the value", **bad("invalid JSON"))
    body("two-values", b'{"a":1}{"b":2}', "two JSON values", **bad("invalid JSON"))
    body("nan", b'{"a":NaN}', "NaN is not JSON", **bad("invalid JSON"))
    body("infinity", b'{"a":Infinity}', "Infinity is not JSON", **bad("invalid JSON"))
    body("minus-infinity", b'[-Infinity]', "-Infinity is not JSON", **bad("invalid JSON"))
    body("single-quotes", b"{'a':1}", "single-quoted strings", **bad("invalid JSON"))
    body("trailing-comma", b'{"a":1,}', "a trailing comma", **bad("invalid JSON"))
    body("comment", b'{"a":1 /* c */}', "a comment", **bad("invalid JSON"))
    body("control-char", b'{"a":"x\x01y"}', "a raw control character in a string",
         **bad("invalid JSON"))
    body("scalar-number", b"42", "a number at the top", **bad("object or an array"))
    body("scalar-string", b'"text"', "a string at the top", **bad("object or an array"))
    body("scalar-null", b"null", "null at the top", **bad("object or an array"))
    body("scalar-true", b"true", "true at the top", **bad("object or an array"))
    body("utf8-bom", b"\xef\xbb\xbf" + b'{"a":1}', "a UTF-8 byte order mark is skipped",
         status=200, executes=True, json={"query": {}, "body": {"a": 1}})
    body("utf16-le-bom", '{"a":1}'.encode("utf-16"), "UTF-16 with its BOM",
         **bad("not valid UTF-8"))
    body("utf16-be", '{"a":1}'.encode("utf-16-be"), "UTF-16 without a BOM",
         status=400, message="")
    body("invalid-utf8", b'{"a":"\xff\xfe"}', "bytes that are not UTF-8",
         **bad("not valid UTF-8"))
    body("overlong-utf8", b'{"a":"\xc0\xaf"}', "an overlong UTF-8 sequence",
         **bad("not valid UTF-8"))
    body("encoded-surrogate-utf8", b'{"a":"\xed\xa0\x80"}', "a surrogate encoded as UTF-8",
         **bad("not valid UTF-8"))
    body("lone-surrogate-escape", b'{"a":"\\ud800"}',
         "an escaped lone surrogate: not a Unicode scalar value, so not text any store or "
         "answer can carry", **bad(""))
    body("escaped-nul", b'{"a":"\\u0000"}', "an escaped NUL is a valid string",
         status=200, executes=True, json={"query": {}, "body": {"a": "\u0000"}})
    body("depth-100", b"[" * 100 + b"]" * 100, "100 levels: the limit",
         status=200, executes=True)
    body("depth-101-arrays", b"[" * 101 + b"]" * 101, "101 nested arrays",
         **bad("JSON nests deeper than 100 levels"))
    body("depth-101-objects", b'{"a":' * 100 + b"{}" + b"}" * 100, "101 nested objects",
         **bad("JSON nests deeper than 100 levels"))
    body("depth-101-mixed", b'[{"a":' * 50 + b"[]" + b"}]" * 50, "101 levels, mixed",
         **bad("JSON nests deeper than 100 levels"))
    body("depth-100k", b"[" * 100_000 + b"]" * 100_000, "100 000 nested arrays",
         **bad("JSON nests deeper than 100 levels"))
    body("depth-100k-unclosed", b"[" * 100_000, "100 000 opening brackets",
         status=400, message="")
    body("wide-flat", b"[" + b"[]," * 99_998 + b"[]]",
         "99 999 empty arrays, 2 levels: 100 000 values, the max_json_items limit",
         status=200, executes=True)
    body("duplicate-keys", b'{"a":1,"a":2}', "the last duplicate key wins",
         status=200, executes=True, json={"query": {}, "body": {"a": 2}})
    body("huge-exponent", b'{"a":1e999}', "1e999 overflows a double",
         status=[200, 400], executes=None)
    body("huge-negative-exponent", b'{"a":-1e999}', "-1e999 overflows a double",
         status=[200, 400], executes=None)
    body("tiny-exponent", b'{"a":1e-999}', "1e-999 underflows to 0",
         status=200, executes=True, json={"query": {}, "body": {"a": 0.0}})
    body("int-4300-digits", b'{"a":' + b"7" * 4300 + b"}",
         "an integer at Python's digit limit", status=200, executes=True)
    body("int-5000-digits", b'{"a":' + b"7" * 5000 + b"}",
         "an integer past Python's 4300-digit limit", **bad("invalid JSON"))
    body("int-10k-digits-negative", b"[-" + b"1" * 10000 + b"]",
         "a negative integer with 10 000 digits", **bad("invalid JSON"))
    body("float-5000-digits", b'{"a":0.' + b"1" * 5000 + b"}", "5000 fraction digits",
         status=200, executes=True)
    body("empty", b"", "an empty JSON body is {}",
         status=200, executes=True, json={"query": {}, "body": {}})
    body("whitespace", b" \r\n\t ", "a blank JSON body is {}",
         status=200, executes=True, json={"query": {}, "body": {}})

    # -- answers built from request data (the seed's X-Order header is the order id) ----------
    def reflect(name: str, order_id: bytes, why: str, **expected: Any) -> None:
        data = b'{"order":{"id":' + order_id + b',"status":"paid"}}'
        case(f"reflect-{name}", seed(data), why, executes=True, **expected)

    injected = {"status": 500, "error_shape": True, "absent_header": "X-Evil"}
    reflect("crlf-header", b'"a\\r\\nX-Evil: 1"', "CR LF in a templated header value: the "
            "node fails, no header is injected", **injected)
    reflect("lf-header", b'"a\\nX-Evil: 1"', "a bare LF in a templated header value",
            **injected)
    reflect("nul-header", b'"a\\u0000b"', "NUL in a templated header value", **injected)
    reflect("non-latin1-header", '"€"'.encode(),
            "a templated header value with a character latin-1 cannot carry: an answer the "
            "server can send (the node's 500, or the value encoded), never a crash",
            status=[200, 500], absent_header="X-Evil")
    reflect("latin1-header", '"é"'.encode(), "a latin-1 character in a templated header",
            status=[200, 500])
    reflect("long-header", b'"' + b"i" * 20_000 + b'"', "a 20 KB templated header value",
            status=[200, 500])
    reflect("object-header", b'{"a":[1,2]}', "an object spliced into a header as JSON text",
            status=200)

    # -- content types (row 11 applies only to JSON media types) -------------------------------
    def ctype(name: str, value: bytes | None, data: bytes, why: str, **expected: Any) -> None:
        header = None if value is None else b"Content-Type: " + value
        body(f"type-{name}", data, why, content_type=header, **expected)

    parsed = {"status": 200, "executes": True, "json": {"query": {}, "body": {"a": 1}}}
    ignored = {"status": 200, "executes": True, "json": {"query": {}, "body": {}}}
    ctype("missing", None, b'{"a":1}', "no Content-Type: the body is {}", **ignored)
    ctype("text-plain", b"text/plain", b"{broken", "a non-JSON type is not parsed", **ignored)
    ctype("text-json", b"text/json", b'{"a":1}', "text/json is not a JSON type", **ignored)
    ctype("jsonx", b"application/jsonx", b'{"a":1}', "a longer subtype", **ignored)
    ctype("uppercase", b"APPLICATION/JSON", b'{"a":1}', "media types are case-insensitive",
          **parsed)
    ctype("charset-utf8", b"application/json; charset=UTF-8", b'{"a":1}', "a charset",
          **parsed)
    ctype("charset-latin1-ascii", b"application/json;charset=latin-1", b'{"a":1}',
          "charset=latin-1 with an ASCII body: still read as UTF-8", **parsed)
    ctype("charset-latin1-bytes", b"application/json;charset=latin-1", b'{"a":"caf\xe9"}',
          "charset=latin-1 with a latin-1 byte: the body must be UTF-8",
          **bad("not valid UTF-8"))
    ctype("odd-params", b'application/json; foo="a;b"; q=0.5;;', b'{"a":1}',
          "odd parameters", **parsed)
    ctype("space-before-semicolon", b"application/json ; charset=utf-8", b'{"a":1}',
          "whitespace before the parameters", **parsed)
    ctype("vnd-plus-json", b"application/vnd.api+json", b'{"a":1}', "a +json type", **parsed)
    ctype("patch-plus-json", b"application/merge-patch+json", b"[1]", "a +json type",
          status=200, executes=True, json={"query": {}, "body": [1]})
    ctype("plus-json-bad", b"application/ld+json", b"{bad", "a +json type is checked",
          **bad("invalid JSON"))
    ctype("empty-value", b"", b'{"a":1}', "an empty Content-Type", **ignored)
    ctype("long-params", b"application/json; x=" + b"y" * 8000, b'{"a":1}',
          "8 KB of parameters", **parsed)
    case("type-duplicated-strict", strict(extra=[JSON]),
         "two Content-Type headers join into a value that is not a media type",
         **refused(415, "application/json"))

    # -- paths (row 2) --------------------------------------------------------------------------
    def path(name: str, target: bytes, why: str, **expected: Any) -> None:
        if not expected:
            expected = refused(404, "no enabled workflow at this URL")
        case(f"path-{name}", seed(target=target), why, **expected)

    ok = {"status": 200, "json": PAID_JSON, "executes": True}
    path("trailing-slash", SEED + b"/", "one trailing slash is ignored", **ok)
    path("two-trailing-slashes", SEED + b"//", "only one trailing slash is ignored")
    path("double-slash", b"/api/webhook:trigger//payment-callback", "an empty segment")
    path("dot-dot", b"/api/webhook:trigger/../webhook:trigger/payment-callback",
         "'..' is not resolved")
    path("dot-dot-after", SEED + b"/..", "'..' after the key")
    path("dot-segment", b"/api/webhook:trigger/./payment-callback", "'.' is not resolved")
    path("encoded-slash-inside", b"/api/webhook:trigger/payment%2Fcallback",
         "an encoded '/' inside the key")
    path("encoded-slash-end", SEED + b"%2F",
         "an encoded trailing '/' decodes to the ignored trailing slash", **ok)
    path("encoded-key-char", b"/api/webhook:trigger/payment%2Dcallback",
         "percent-encoded key characters decode", **ok)
    path("bad-percent", SEED + b"%zz", "an invalid percent escape")
    path("lone-percent", SEED + b"%", "a lone '%'")
    path("encoded-nul", SEED + b"%00", "an encoded NUL")
    path("invalid-utf8", b"/api/webhook:trigger/%ff%fe", "percent-encoded bytes, not UTF-8")
    path("unknown-key", b"/api/webhook:trigger/no-such-hook", "an unknown key")
    path("disabled-key", DISABLED, "a disabled workflow")
    path("base-path-only", b"/api/webhook:trigger", "the base path alone")
    path("base-path-slash", b"/api/webhook:trigger/", "the base path with a slash")
    path("key-case", b"/api/webhook:trigger/Payment-Callback", "keys are case-sensitive")
    path("outside", b"/somewhere/else", "a path outside the base path",
         **refused(404, "not found"))
    path("base-case", b"/API/webhook:trigger/payment-callback", "the base path is case-sensitive",
         **refused(404, "not found"))
    path("long-key", b"/api/webhook:trigger/" + b"k" * 5000, "a 5000-character key")
    path("fragment", SEED + b"#frag", "a fragment is not sent by clients; here it is in the key")
    path("absolute-form", b"http://127.0.0.1" + SEED, "an absolute-form target (a server "
         "must accept it, RFC 9112 3.2.2; the doors see it as the path)",
         **refused(404, "not found"), threaded=ok)
    path("asterisk", b"*", "the asterisk form", **refused(404, "not found"))

    # -- URL length and query strings (rows 1, 15) ---------------------------------------------
    def query(name: str, text: bytes, why: str, **expected: Any) -> None:
        case(f"query-{name}", echo(query=text), why, **expected)

    accepted = {"status": 200, "executes": True}
    url_prefix = len(ECHO) + 1
    query("url-8192", b"q=" + b"a" * (8192 - url_prefix - 2), "a URL of exactly 8192 bytes",
          **accepted)
    query("url-8193", b"q=" + b"a" * (8193 - url_prefix - 2), "a URL of 8193 bytes",
          **refused(414, "URL longer than 8192 bytes"))
    path("url-9000-unknown-key", b"/api/webhook:trigger/nope?" + b"q" * 9000,
         "414 comes before 404", **refused(414, "URL longer than 8192 bytes"))
    query("brackets-100k", b"a=" + b"[" * 100_000, "100 000 brackets",
          **refused(414, "URL longer than 8192 bytes"),
          threaded={"status": 414, "server": True})
    query("params-5000", b"&".join(b"p%d=1" % i for i in range(5000)), "5000 parameters",
          **refused(414, "URL longer than"))
    query("params-4000", b"&".join(b"a" for _ in range(4000)),
          "4000 bare keys (parameterLimit keeps 1000)", **accepted)
    query("deep-nesting", b"a" + b"[b]" * 2500 + b"=1", "2500 bracket groups (depth keeps 5)",
          **accepted)
    query("brackets-8000", b"[" * 8000 + b"=1", "8000 opening brackets as a key", **accepted)
    query("closing-brackets", b"a" + b"]" * 8000 + b"=1", "8000 closing brackets", **accepted)
    query("alternating", b"a" + b"[]" * 4000 + b"=1", "4000 '[]' groups", **accepted)
    query("huge-index", b"a[999999999999]=1&a[]=2", "a huge list index",
          status=200, executes=True,
          json={"query": {"a": {"999999999999": "1", "0": "2"}}, "body": {}})
    query("index-digits-5000", b"a[" + b"9" * 5000 + b"]=1", "a 5000-digit index", **accepted)
    query("bad-percent", b"a=%zz&b=%&c=%e9&d=%C3%A9", "invalid and non-UTF-8 escapes",
          status=200, executes=True,
          json={"query": {"a": "%zz", "b": "%", "c": "\ufffd", "d": "é"}, "body": {}})
    query("overlong-utf8", b"a=%C0%AF", "an overlong UTF-8 escape",
          status=200, executes=True, json={"query": {"a": "\ufffd\ufffd"}, "body": {}})
    query("encoded-brackets", b"a%5Bb%5D=1&c%5b%5d=2", "percent-encoded brackets",
          status=200, executes=True, json={"query": {"a": {"b": "1"}, "c": ["2"]}, "body": {}})
    query("mixed-indices", b"a[]=1&a[0]=2&a[x]=3", "indices and names in one key",
          **accepted)
    query("proto-keys", b"__proto__[x]=1&constructor[prototype][y]=2", "prototype names",
          **accepted)
    query("only-separators", b"&&&&====&&&", "separators only", **accepted)
    query("raw-utf8", "a=é".encode(), "raw UTF-8 in the query (not percent-encoded)",
          status=200, executes=True, json={"query": {"a": "é"}, "body": {}},
          uvicorn=SERVER_400)


def main() -> None:
    build()
    for old in HERE.glob("*.http"):
        old.unlink()
    expected: dict[str, Any] = {}
    names = set()
    for number, (name, data, spec) in enumerate(CASES, 1):
        if name in names:
            raise SystemExit(f"duplicate case name {name}")
        names.add(name)
        file = f"{number:03d}-{name}.http"
        (HERE / file).write_bytes(data)
        expected[file] = spec
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False)
                                        + "\n")
    print(f"{len(CASES)} requests written to {HERE}")


if __name__ == "__main__":
    main()
