"""The expectations of the corpus (``expected.json``) and the check of one answer against
them, shared by the corpus tests and the soak benchmark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["CORPUS", "EXPECTED", "FILES", "TIER_PARENT", "allowed", "check_answer",
           "expectation", "raw", "should_execute", "strict_json"]

CORPUS = Path(__file__).resolve().parent
EXPECTED: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text())
FILES = sorted(EXPECTED)

TIER_PARENT = {"wsgi": None, "asgi": None, "threaded": "wsgi", "uvicorn": "asgi"}
_OUTCOME = ("status", "message", "json", "executes", "unread", "server", "error_shape",
            "server_status")


def raw(file: str) -> bytes:
    return (CORPUS / file).read_bytes()


def expectation(file: str, tier: str) -> dict[str, Any]:
    """The expectation for ``tier``: the row, then the door's, then the server's override.

    An override that names a ``status`` replaces the whole outcome of the levels below it.
    """
    row = EXPECTED[file]
    merged = {k: v for k, v in row.items() if k not in TIER_PARENT}
    chain = [tier] if TIER_PARENT[tier] is None else [str(TIER_PARENT[tier]), tier]
    for level in chain:
        override = row.get(level)
        if not override:
            continue
        if "status" in override:
            merged = {k: v for k, v in merged.items() if k not in _OUTCOME}
        merged.update(override)
    return merged


def allowed(spec: dict[str, Any]) -> list[int | None]:
    status = spec.get("status")
    return list(status) if isinstance(status, list) else [status]


def should_execute(spec: dict[str, Any], status: int | None) -> bool:
    executes = spec.get("executes", False)
    if executes is None:  # either outcome is right; an accepted request runs
        return status is not None and 200 <= status < 300
    return bool(executes)


def strict_json(body: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} in a JSON answer")

    return json.loads(body, parse_constant=refuse)


def check_answer(spec: dict[str, Any], status: int | None, headers: list[tuple[str, str]],
                 body: bytes, *, head: bool = False) -> list[str]:
    """Every way this answer differs from ``spec`` (empty when it is right)."""
    problems: list[str] = []
    names = {name.lower(): value for name, value in headers}
    if status in spec.get("server_status", ()) and status not in allowed(spec) and \
            not names.get("content-type", "").startswith("application/json"):
        spec = {**spec, "status": status, "server": True}  # the server answered on its own
    if status not in allowed(spec):
        shown = body[:160].decode("utf-8", "replace")
        problems.append(f"status {status}, expected {spec.get('status')} (body {shown!r})")
    if b"Traceback" in body or b'File "' in body:
        problems.append("the answer carries a traceback")
    if status is None or spec.get("server") or head:
        return problems
    content_type = names.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            value = strict_json(body)
        except ValueError as exc:
            return [*problems, f"the JSON answer is not strict JSON ({exc}): {body[:120]!r}"]
    else:
        value = None
    if "json" in spec and value != spec["json"]:
        problems.append(f"body {body[:300]!r}, expected {spec['json']!r}")
    # Our door's own refusals, a failed run's 500, and any 5xx: always the error body.
    refused = status >= 500 or (status >= 400 and (not spec.get("executes")
                                                   or spec.get("error_shape")))
    if refused:
        shape_ok = (isinstance(value, dict) and list(value) == ["errors"]
                    and isinstance(value["errors"], list) and len(value["errors"]) == 1
                    and isinstance(value["errors"][0], dict)
                    and isinstance(value["errors"][0].get("message"), str))
        if not shape_ok:
            problems.append(f'not the error shape {{"errors":[{{"message"}}]}}: {body[:200]!r}')
        elif spec.get("message", "") not in value["errors"][0]["message"]:
            problems.append(f"message {value['errors'][0]['message']!r} lacks "
                            f"{spec['message']!r}")
    absent = spec.get("absent_header")
    if absent and absent.lower() in names:
        problems.append(f"the answer carries an injected {absent} header")
    if status == 401 and names.get("www-authenticate") != 'Basic realm="webhook"':
        problems.append(f"401 without the Basic challenge: {headers}")
    if status == 405 and names.get("allow") != "POST":
        problems.append(f"405 without Allow: POST: {headers}")
    return problems
