"""The fuzz target: arbitrary bytes → a WSGI environ → the WSGI door, with invariants.

The bytes are read as an HTTP/1.1 request, as leniently as possible so that every input reaches
the door: the first line gives the method, target and version (missing parts get defaults);
each further line up to the first blank one is a header (``name: value``; names keep their
token characters only, as a server would never pass others); the rest is the body, which the
door reads up to ``Content-Length`` (or all of it, decoded, with ``wsgi.input_terminated`` when
the request says chunked).

Invariants checked on every answer (a violation raises :class:`Finding`):

- the door answers exactly once with a status a server can send, and its headers are latin-1
  text without CR, LF or NUL (PEP 3333);
- ``Content-Length`` matches the body; no answer carries a traceback;
- a refusal by the door (4xx, and every 5xx) is the error body ``{"errors":[{"message"}]}``;
- a ``500 internal error`` (an unexpected exception inside the door) never happens, and the
  library logs no exception;
- an answer of the documented statuses only.
"""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

__all__ = ["ROOT", "SEEDS", "Finding", "Target", "environ_from_bytes"]

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "tests" / "corpus"
WORKFLOWS = SEEDS / "workflows"
EXAMPLE = ROOT / "examples" / "payment-callback.json"

#: What the door may answer: SPEC §1's rows, the runs' answers, and the seed's 400.
DOCUMENTED = frozenset({200, 202, 400, 401, 404, 405, 408, 411, 413, 414, 415, 431, 500, 503})
_NOT_TOKEN = re.compile(rb"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")
_TRACEBACK = (b"Traceback (most recent call last)", b'File "')


class Finding(Exception):
    """An invariant does not hold for an input."""


class _Recorder(logging.Handler):
    """Collects the library's log records that carry an exception."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


def _dechunk(data: bytes) -> bytes:
    """The payload of a chunked body, as far as its framing is readable."""
    out, pos = [], 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return b"".join(out)
        size_text = data[pos:end].split(b";", 1)[0].strip()
        try:
            size = int(size_text[:16], 16)
        except ValueError:
            return b"".join(out)
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2:end + 2 + size])
        pos = end + 2 + size + 2


def environ_from_bytes(data: bytes) -> dict[str, Any]:
    """A WSGI environ (as gunicorn builds one) for ``data`` read as an HTTP request."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    method = _NOT_TOKEN.sub(b"", parts[0]) or b"POST"
    target = parts[1] if len(parts) > 1 else b"/api/webhook:trigger/echo-hook"
    version = parts[2] if len(parts) > 2 else b"HTTP/1.1"
    path, _, query = target.partition(b"?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method.decode("latin-1"),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "RAW_URI": target.decode("latin-1"),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": version.decode("latin-1"),
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = _NOT_TOKEN.sub(b"", name)
        if not name:
            continue
        text = value.strip(b" \t").decode("latin-1")
        upper = name.decode("latin-1").upper().replace("-", "_")
        key = upper if upper in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + upper
        environ[key] = f"{environ[key]},{text}" if key in environ else text
        if upper == "TRANSFER_ENCODING" and "chunked" in text.lower():
            chunked = True
    if chunked:
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True
        body = _dechunk(body)
    environ["wsgi.input"] = io.BytesIO(body)
    return environ


class Target:
    """One engine behind the WSGI door; :meth:`run` checks one input."""

    def __init__(self) -> None:
        from webhook_workflow import Engine
        from webhook_workflow.wsgi import WebhookMiddleware

        # Small stores: a long run must not grow without bound.
        self.engine = Engine(max_executions=200, max_queue=200, workers=2)
        self.engine.add_workflow(EXAMPLE)
        self.engine.load_directory(WORKFLOWS)
        self.app = WebhookMiddleware(engine=self.engine)
        self.recorder = _Recorder()
        logger = logging.getLogger("webhook_workflow")
        logger.addHandler(self.recorder)
        logger.propagate = False  # the fuzzer's output stays readable
        self.runs = 0

    def close(self) -> None:
        logging.getLogger("webhook_workflow").removeHandler(self.recorder)
        self.engine.close(timeout=10)

    def run(self, data: bytes) -> None:
        """Send ``data`` through the door; raise :class:`Finding` when an invariant breaks."""
        self.runs += 1
        environ = environ_from_bytes(data)
        calls: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Any:
            calls.append((status, headers))
            return lambda chunk: None

        self.recorder.records.clear()
        result = self.app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if self.recorder.records:
            record = self.recorder.records[0]
            raise Finding(f"the library logged an exception: {record.getMessage()}",
                          ) from record.exc_info[1] if record.exc_info else None
        if len(calls) != 1:
            raise Finding(f"start_response called {len(calls)} times")
        status_line, headers = calls[0]
        check_answer(status_line, headers, body)


def check_answer(status_line: str, headers: list[tuple[str, str]], body: bytes) -> None:
    """The invariants of one answer."""
    try:
        status = int(status_line.split(" ", 1)[0])
    except ValueError:
        raise Finding(f"status line {status_line!r}") from None
    if status not in DOCUMENTED:
        raise Finding(f"undocumented status {status_line!r}")
    names: dict[str, str] = {}
    for name, value in headers:
        if not isinstance(name, str) or not isinstance(value, str):
            raise Finding(f"header {name!r} is not text")
        try:
            name.encode("latin-1")
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise Finding(f"header {name}: {value!r} is not latin-1 (PEP 3333)") from None
        if any(c in name + value for c in "\r\n\0"):
            raise Finding(f"header {name}: {value!r} carries CR, LF or NUL")
        names[name.lower()] = value
    if names.get("content-length") != str(len(body)):
        raise Finding(f"Content-Length {names.get('content-length')} for {len(body)} bytes")
    if any(marker in body for marker in _TRACEBACK):
        raise Finding("the answer carries a traceback")
    if names.get("content-type", "").startswith("application/json"):
        try:
            value = json.loads(body, parse_constant=_no_constant)
        except ValueError as exc:
            raise Finding(f"a JSON answer that is not strict JSON: {exc}") from None
    else:
        value = None
    if status >= 500 or (status >= 400 and isinstance(value, dict) and "errors" in value):
        if not (isinstance(value, dict) and isinstance(value.get("errors"), list)
                and len(value["errors"]) == 1
                and isinstance(value["errors"][0].get("message"), str)):
            raise Finding(f"{status} without the error body: {body[:200]!r}")
        if status == 500 and value["errors"][0]["message"] == "internal error":
            raise Finding("500 internal error: an exception escaped the checks")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} in a JSON answer")
