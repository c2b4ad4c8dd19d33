"""Validate a workflow definition and compile it into an immutable :class:`CompiledWorkflow`.

Everything the request path needs is prepared here, once: Basic-auth credentials as bytes,
the trigger-variable builder, query options, the async response spec, and every node with its
templates compiled. A definition error names the offending field path.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string as _string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import DefinitionError
from ..fields import (
    Field,
    Problems,
    boolean,
    check_section,
    join,
    json_value,
    string,
    type_name,
)
from ..http.auth import basic_header
from ..http.querystring import QueryOptions
from ..http.response import ResponseSpec
from ..nodes.base import MAX_BRANCH_INDEX, CompiledNode, NodeType
from ..nodes.registry import NOCOBASE_ONLY_NODES
from ..nodes.retry import check_retry, merge_retry
from ..variables.context import ContextBuilder
from .flow import FlowControl, compile_flow
from .guards import NO_GUARDS, Guards, compile_guards
from .nocobase import from_flat, is_flat
from .trigger import TriggerConfig, check_options, compile_trigger

__all__ = ["KEY_PATTERN", "CompiledWorkflow", "compile_definition", "generate_key"]

KEY_PATTERN = r"[A-Za-z0-9_-]{1,64}"
NODE_KEY_PATTERN = r"[A-Za-z0-9_-]+"
_KEY_ALPHABET = _string.digits + _string.ascii_lowercase
# Branches nested deeper than this are refused: no real workflow needs it, and compiling and
# drawing a definition must never exhaust the stack.
MAX_NESTING = 64

WORKFLOW_FIELDS = (
    Field("key", string(KEY_PATTERN, what="1-64 characters of [A-Za-z0-9_-]"), None,
          "URL key; generated (11 characters of [0-9a-z]) when absent"),
    Field("title", string(max_length=200), None, "display name"),
    Field("description", string(max_length=10_000), None, "free text"),
    Field("type", string("webhook", what="'webhook'"), "webhook", "trigger type"),
    Field("enabled", boolean, True, "a disabled workflow answers 404"),
    Field("sync", boolean, False, "the request waits for the run (Response node decides)"),
    Field("config", lambda v, p: v, {}, "trigger configuration (see below)"),
    Field("options", lambda v, p: v, {}, "execution options (see below)"),
    Field("nodes", lambda v, p: v, [], "the main chain of nodes"),
)

#: Options added after the first release: left out of the canonical form when unset.
_LATER_OPTIONS = frozenset({"retry", "concurrency", "throttle", "debounce"})

NODE_FIELDS = (
    Field("key", string(NODE_KEY_PATTERN, max_length=64, what="[A-Za-z0-9_-]+"),
          doc="unique within the workflow; names the node's results"),
    Field("type", string(max_length=64), doc="node type id"),
    Field("title", string(max_length=200), None, "display name"),
    Field("config", lambda v, p: v, None, "node configuration"),
    Field("branches", lambda v, p: v, None, "branch index → chain of nodes"),
    Field("retry", check_retry, None, "retry policy: `{maxAttempts, backoff, delay, maxDelay, "
          "jitter, on}` over `options.retry` (see `retry` below)", "object"),
)


def _top_fields(data: Any, problems: Problems) -> dict[str, Any]:
    """The top-level fields of a definition; a field that fails its check is kept in
    ``problems`` and read as its default, so the rest of the definition is checked too."""
    try:
        return check_section(data, WORKFLOW_FIELDS, "")
    except DefinitionError as exc:
        if not isinstance(data, Mapping):
            raise
        problems.found.append(exc)
    out: dict[str, Any] = {}
    for f in WORKFLOW_FIELDS:
        try:
            out[f.name] = check_section({f.name: data[f.name]} if f.name in data else {},
                                        (f,), "")[f.name]
        except DefinitionError:
            out[f.name] = f.default
    return out


def generate_key() -> str:
    """A new workflow key: 11 characters of ``[0-9a-z]`` from :mod:`secrets`."""
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(11))


@dataclass(frozen=True, eq=False)
class CompiledWorkflow:
    """A validated, compiled workflow version, shared by all its executions."""

    key: str
    title: str | None
    sync: bool
    enabled: bool
    #: The canonical definition (defaults filled in, ``enabled`` left out) and its SHA-256.
    definition: dict[str, Any]
    digest: str
    auth: tuple[bytes, bytes] | None
    context: ContextBuilder
    strict_content_type: bool
    max_body_size: int | None
    query_options: QueryOptions
    response: ResponseSpec | None
    head: CompiledNode | None
    nodes: dict[str, CompiledNode] = field(repr=False)
    stack_limit: int = 1
    delete_on_status: frozenset[int] = frozenset()
    version: int = 1
    #: ``options.timeout`` in milliseconds (0 = none).
    timeout_ms: int = 0
    #: The trigger guards (signature, idempotency, filter, network, cors, bodies, syncWait).
    guards: Guards = NO_GUARDS
    #: What clients send as ``Authorization`` for :attr:`auth` (``Basic <base64>``).
    auth_header: bytes | None = None
    #: ``config.request.maxJsonItems`` (``None``: the engine's ``max_json_items``).
    max_json_items: int | None = None
    #: ``options.concurrency`` / ``throttle`` / ``debounce`` (async workflows), or None.
    flow: FlowControl | None = None
    #: The keys of its ``callback`` nodes, in document order (their resume URLs).
    callbacks: tuple[str, ...] = ()


def compile_definition(data: Any, node_types: Mapping[str, NodeType], *,
                       max_body_size: int | None = None,
                       env: Mapping[str, Any] | None = None,
                       max_json_items: int | None = None) -> CompiledWorkflow:
    """Validate ``data`` (a definition dict) and compile it.

    ``node_types`` is the engine's node table; ``max_body_size`` and ``max_json_items`` the
    engine limits a workflow may only lower; ``env`` the engine's ``$env`` (for credentials
    written as templates).
    """
    if is_flat(data):
        data = from_flat(data)
    # Every section is checked even after one failed, so that all the errors of a definition
    # are reported at once; a section that failed is left out of what depends on it.
    problems = Problems()
    top = _top_fields(data, problems)
    key = top["key"] or generate_key()
    sync = top["sync"]
    trigger: TriggerConfig | None = None
    options: dict[str, Any] | None = None
    guards: Guards | None = None
    flow: FlowControl | None = None
    with problems.gather():
        trigger = compile_trigger(top["config"], sync, max_body_size, env, max_json_items)
    with problems.gather():
        options = check_options(top["options"])
    if options is not None:
        if options["syncWait"] and not sync:
            problems.add("options.syncWait", "is for sync workflows only")
        if trigger is not None:
            with problems.gather():
                guards = compile_guards(trigger.config, trigger.config["request"], options,
                                        env or {})
        with problems.gather():
            flow = compile_flow(options, sync)
    builder = _ChainBuilder(node_types, sync, None if options is None else options["retry"],
                            problems)
    head = None
    if not isinstance(top["nodes"], list):
        problems.add("nodes", f"must be an array, got {type_name(top['nodes'])}")
    else:
        with problems.gather():
            head = builder.chain(top["nodes"], "nodes", None, 0)
    for node in builder.nodes.values():
        if node.key not in builder.broken:
            with problems.gather():
                node.impl.link(node, builder.nodes)
    problems.raise_found()
    assert trigger is not None and options is not None and guards is not None
    canonical = {
        "key": key, "title": top["title"], "description": top["description"],
        "type": top["type"], "sync": sync, "config": trigger.config,
        # Unset options added later are left out, so definitions written before them keep
        # their digest (and version).
        "options": {k: v for k, v in options.items() if k not in _LATER_OPTIONS or v is not None},
        "nodes": builder.canonical_nodes(top["nodes"]),
    }
    # Unset optional fields are left out, so the canonical form validates as a definition.
    canonical = {name: value for name, value in canonical.items() if value is not None}
    # Branches nest the definition itself; values inside were bounded by their own fields.
    json_value(canonical, "", max_depth=1_000_000)
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":"),
                                       ensure_ascii=False).encode()).hexdigest()
    return CompiledWorkflow(
        key=key, title=top["title"], sync=sync, enabled=top["enabled"], definition=canonical,
        digest=digest, auth=trigger.auth, context=trigger.context,
        strict_content_type=trigger.strict_content_type, max_body_size=trigger.max_body_size,
        max_json_items=trigger.max_json_items,
        query_options=trigger.query_options, response=trigger.response, head=head,
        nodes=builder.nodes, stack_limit=options["stackLimit"],
        delete_on_status=frozenset(options["deleteExecutionOnStatus"]),
        timeout_ms=options["timeout"],
        guards=guards, flow=flow,
        callbacks=tuple(k for k, n in builder.nodes.items() if n.type == "callback"),
        auth_header=None if trigger.auth is None else basic_header(trigger.auth),
    )


class _ChainBuilder:
    """Builds linked :class:`CompiledNode` chains, checking keys, types and branches."""

    def __init__(self, node_types: Mapping[str, NodeType], sync: bool,
                 retry: Mapping[str, Any] | None = None,
                 problems: Problems | None = None) -> None:
        self.node_types = node_types
        self.sync = sync
        self.retry = retry
        self.nodes: dict[str, CompiledNode] = {}
        self.checked: dict[int, dict[str, Any]] = {}
        #: Where the errors of each node go; the chain goes on with the next node.
        self.problems = Problems() if problems is None else problems
        #: Keys of the nodes whose config failed: kept (their keys are taken), never linked.
        self.broken: set[str] = set()

    def chain(self, items: Any, path: str, parent: CompiledNode | None,
              depth: int, branch: int | None = None) -> CompiledNode | None:
        if not isinstance(items, list):
            raise DefinitionError(path, f"must be an array, got {type_name(items)}")
        if depth > MAX_NESTING:
            raise DefinitionError(path, f"branches nest deeper than {MAX_NESTING}")
        previous: CompiledNode | None = None
        head: CompiledNode | None = None
        for i, item in enumerate(items):
            node = None
            with self.problems.gather():
                node = self.node(item, join(path, i), depth)
            if node is None:
                continue
            node.parent = parent
            node.branch = branch
            node.upstream = previous
            if previous is None:
                head = node
            else:
                previous.downstream = node
            previous = node
        return head

    def node(self, item: Any, path: str, depth: int) -> CompiledNode:
        spec = check_section(item, NODE_FIELDS, path)
        self.checked[id(item)] = spec
        key, type_ = spec["key"], spec["type"]
        if key in self.nodes:
            raise DefinitionError(join(path, "key"), f"duplicate node key {key!r} (first at "
                                  f"{self.nodes[key].path})")
        impl = self.node_types.get(type_)
        if impl is None:
            if type_ in NOCOBASE_ONLY_NODES:
                raise DefinitionError(join(path, "type"), f"node type {type_!r} works on "
                                      "NocoBase's own data or users and has no equivalent "
                                      "here; register a custom node type instead")
            known = ", ".join(sorted(self.node_types))
            raise DefinitionError(join(path, "type"), f"unknown node type {type_!r} "
                                  f"(known: {known})")
        if impl.only_in is not None and impl.only_in != ("sync" if self.sync else "async"):
            raise DefinitionError(join(path, "type"), f"a {type_!r} node is only allowed in "
                                  f"{impl.only_in} workflows")
        config: dict[str, Any] = {}
        prepared: Any = None
        compiled = False
        with self.problems.gather():
            config, prepared = impl.compile(spec["config"], join(path, "config"))
            compiled = True
        if not compiled:
            self.broken.add(key)
        spec["config"] = config
        node = CompiledNode(key, type_, spec["title"], config, prepared, impl, path)
        node.retry = merge_retry(self.retry, spec["retry"])
        self.nodes[key] = node
        branches = spec["branches"]
        if branches is not None:
            # The branches of a node whose config failed are checked too.
            with self.problems.gather():
                node.branches = self.branches(node, branches, join(path, "branches"), depth)
        return node

    def branches(self, node: CompiledNode, value: Any, path: str,
                 depth: int) -> dict[int, CompiledNode]:
        impl = node.impl
        if not isinstance(value, Mapping):
            raise DefinitionError(path, f"must be an object, got {type_name(value)}")
        if impl.branch_indexes is None and not impl.open_branches and value:
            raise DefinitionError(path, f"a {node.type!r} node has no branches")
        out: dict[int, CompiledNode] = {}
        for name, items in value.items():
            with self.problems.gather():
                index = _branch_index(name, impl, join(path, str(name)))
                if index in out:
                    raise DefinitionError(join(path, str(name)), f"branch {index} given twice")
                head = self.chain(items, join(path, str(name)), node, depth + 1, index)
                if head is not None:
                    out[index] = head
        return out

    def canonical_nodes(self, items: list[Any]) -> list[dict[str, Any]]:
        out = []
        for item in items:
            spec = dict(self.checked[id(item)])
            branches = spec.pop("branches")
            node = {k: v for k, v in spec.items() if v is not None}
            if branches:
                impl = self.node_types[spec["type"]]
                node["branches"] = {
                    str(_branch_index(name, impl, "")): self.canonical_nodes(chain)
                    for name, chain in sorted(branches.items(), key=lambda kv: str(kv[0]))}
            out.append(node)
        return out


def _branch_index(name: Any, impl: NodeType, path: str) -> int:
    text = str(name)
    if text in impl.branch_aliases:
        index = impl.branch_aliases[text]
    else:
        try:
            index = int(text)
        except ValueError:
            index = -1
        if not text.lstrip("-").isdigit():
            index = -1
    allowed = impl.branch_indexes
    if impl.open_branches:
        if not 0 <= index <= MAX_BRANCH_INDEX:
            raise DefinitionError(path, f"a branch index is an integer 0..{MAX_BRANCH_INDEX}")
    elif allowed is not None and index not in allowed:
        names = ", ".join([str(i) for i in sorted(allowed)] + list(impl.branch_aliases))
        raise DefinitionError(path, f"not a branch of a {impl.type_name!r} node "
                              f"(branches: {names})")
    if index < 0:
        raise DefinitionError(path, "a branch index is a non-negative integer")
    return index


