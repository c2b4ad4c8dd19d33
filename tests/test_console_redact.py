"""What the console redacts: credentials, secrets and the headers a workflow marks secret."""

from __future__ import annotations

from webhook_workflow.console.redact import REDACTED, Redactor

DEFINITION = {
    "config": {"basicAuthentication": {"username": "shop", "password": "sha256:ab12"},
               "signature": {"scheme": "github", "secrets": ["whsec_literal",
                                                             "{{$env.HOOK_SECRET}}"]}},
    "nodes": [{"key": "call", "type": "request", "config": {"headers": [
        {"name": "X-Api-Key", "value": "Bearer {{$env.API_KEY}}"},
        {"name": "Accept", "value": "application/json"}]}}],
}
ENV = {"API_KEY": "k-123456", "HOOK_SECRET": "s-abcdef", "OTHER": "not-a-secret"}


def test_a_definition_shows_references_but_no_secret() -> None:
    shown = Redactor(DEFINITION, ENV)(DEFINITION)
    assert shown["config"]["basicAuthentication"] == {"username": "shop", "password": REDACTED}
    assert shown["config"]["signature"]["secrets"] == [REDACTED, "{{$env.HOOK_SECRET}}"]
    headers = shown["nodes"][0]["config"]["headers"]
    assert headers == [{"name": "X-Api-Key", "value": REDACTED},
                       {"name": "Accept", "value": "application/json"}]


def test_payloads_lose_credential_headers_marked_headers_and_secret_values() -> None:
    redact = Redactor(DEFINITION, ENV)
    payload = {"headers": {"Authorization": "Basic eDp5", "X-Api-Key": "k-123456",
                           "X-Hub-Signature-256": "sha256=ff", "Accept": "*/*"},
               "response": {"headers": [["Set-Cookie", "sid=1"], ["Content-Type", "x"]]},
               "body": {"note": "the key was k-123456 and s-abcdef", "ok": "not-a-secret",
                        "password": 1234, "secret": True}}
    shown = redact(payload)
    assert shown["headers"] == {"Authorization": REDACTED, "X-Api-Key": REDACTED,
                                "X-Hub-Signature-256": REDACTED, "Accept": "*/*"}
    assert shown["response"]["headers"] == [["Set-Cookie", REDACTED], ["Content-Type", "x"]]
    assert shown["body"] == {"note": f"the key was {REDACTED} and {REDACTED}",
                             "ok": "not-a-secret", "password": REDACTED, "secret": True}
    assert payload["headers"]["Authorization"] == "Basic eDp5"  # a copy: the record is kept


def test_without_a_definition_the_built_in_rules_hold() -> None:
    shown = Redactor()({"cookie": "a=b", "Proxy-Authorization": "x", "x-other": "y"})
    assert shown == {"cookie": REDACTED, "Proxy-Authorization": REDACTED, "x-other": "y"}
