"""The destination policy's defaults and host-name spellings.

Without ``request_policy`` link-local and cloud metadata addresses are refused (their answers
hold the host's credentials) while loopback and private networks stay reachable; an ``allow``
entry naming the address, a network holding it or the host opens them. Host names are matched
as the resolver reads them: a trailing dot, upper case or Unicode spelling does not pass a
deny entry.
"""

from __future__ import annotations

import socket
from ipaddress import ip_address
from typing import Any

import pytest
from test_node_request import LocalServer, job, make_engine, run, server  # noqa: F401

from webhook_workflow import Status
from webhook_workflow.nodes.request_policy import (
    PolicyRefusal,
    check_request_policy,
    is_sensitive,
    normalise_host,
    policy_of,
)

METADATA = ["169.254.169.254", "169.254.0.1", "fe80::1", "fd00:ec2::254", "100.100.100.200",
            "::ffff:169.254.169.254", "2002:a9fe:a9fe::", "64:ff9b::a9fe:a9fe"]


@pytest.mark.parametrize("address", METADATA)
def test_link_local_and_metadata_addresses_are_refused_by_default(address: str) -> None:
    assert is_sensitive(ip_address(address))
    with pytest.raises(PolicyRefusal, match="link-local or cloud metadata"):
        policy_of(None).check("example.test", [ip_address(address)])


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.0.0.5", "192.168.1.2", "8.8.8.8",
                                     "fd00::1", "100.64.0.1"])
def test_loopback_private_and_public_addresses_stay_allowed_by_default(address: str) -> None:
    assert not is_sensitive(ip_address(address))
    policy_of(None).check("example.test", [ip_address(address)])


@pytest.mark.parametrize("allow", [["169.254.169.254"], ["169.254.0.0/16"],
                                   ["metadata.google.internal"], ["*.google.internal"]])
def test_an_explicit_allow_entry_opens_a_metadata_address(allow: list[str]) -> None:
    policy_of({"allow": allow}).check("metadata.google.internal",
                                      [ip_address("169.254.169.254")])


def test_allowing_private_does_not_open_metadata_and_deny_still_wins() -> None:
    with pytest.raises(PolicyRefusal, match="link-local"):
        policy_of({"allow": ["private"]}).check("x.test", [ip_address("169.254.169.254")])
    with pytest.raises(PolicyRefusal, match="denied"):
        policy_of({"allow": ["169.254.169.254"], "deny": ["private"]}).check(
            "x.test", [ip_address("169.254.169.254")])


def test_a_request_to_the_metadata_address_fails_without_a_policy() -> None:
    eng = make_engine()
    try:  # refused before any connection is made
        execution = run(eng, {"url": "http://169.254.169.254/latest/meta-data/",
                              "method": "GET", "timeout": 2000})
    finally:
        eng.close(timeout=5)
    assert job(execution).status == Status.FAILED
    assert "169.254.169.254 (169.254.169.254) is a link-local or cloud metadata address" in \
        job(execution).result["message"]


def test_a_name_that_resolves_to_the_metadata_address_fails_too(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    eng = make_engine()
    try:
        execution = run(eng, {"url": "http://innocent.test/", "method": "GET"})
    finally:
        eng.close(timeout=5)
    assert job(execution).status == Status.FAILED
    assert "innocent.test (169.254.169.254)" in job(execution).result["message"]


@pytest.mark.parametrize(("spelled", "plain"), [
    ("localhost.", "localhost"), ("LocalHost", "localhost"), ("db.internal.", "db.internal"),
    ("DB.Internal..", "db.internal"), ("bücher.example", "xn--bcher-kva.example"),
])
def test_host_names_are_normalised(spelled: str, plain: str) -> None:
    assert normalise_host(spelled) == plain


@pytest.mark.parametrize(("deny", "host"), [
    (["localhost"], "localhost."), (["*.internal"], "db.internal."),
    (["localhost."], "localhost"), (["*.Internal"], "DB.INTERNAL"),
    (["bücher.example"], "xn--bcher-kva.example"),
    (["xn--bcher-kva.example"], "bücher.example"),
])
def test_deny_names_match_every_spelling(deny: list[str], host: str) -> None:
    with pytest.raises(PolicyRefusal, match="denied"):
        policy_of(check_request_policy({"deny": deny})).check(host, [ip_address("8.8.8.8")])


@pytest.mark.parametrize("spelling", ["localhost.", "LOCALHOST", "LocalHost."])
def test_a_trailing_dot_url_does_not_pass_a_deny_entry(
        server: LocalServer, spelling: str, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    # Resolvers differ on "localhost." (some answer 127.0.0.1, some nothing): pin it.
    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    eng = make_engine(request_policy={"deny": ["localhost"]})
    try:
        execution = run(eng, {"url": server.url(host=spelling), "method": "GET"})
    finally:
        eng.close(timeout=5)
    assert job(execution).status == Status.FAILED
    assert "denied by the request policy" in job(execution).result["message"]
    assert server.seen == []
