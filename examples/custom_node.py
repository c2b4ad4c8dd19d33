"""A host-defined node type, in both forms the engine accepts.

Run the demo:        python examples/custom_node.py
Serve it over HTTP:  webhook-workflow serve examples/custom-node.json --app examples.custom_node:make_engine
(run the second command from the project folder, so ``examples.custom_node`` imports).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from webhook_workflow import DefinitionError, Engine, Job, NodeContext, Status

HERE = Path(__file__).resolve().parent


def slugify(config: dict[str, Any], ctx: NodeContext) -> str:
    """Function form: ``(config, ctx) -> result``; config arrives with templates rendered."""
    return "-".join(str(config["text"]).lower().split())


class Checksum:
    """Class form: ``run`` plus an optional ``validate_config`` checked at registration."""

    algorithms = ("sha256", "sha1", "md5")

    def validate_config(self, config: dict[str, Any]) -> None:
        if config.get("algorithm", "sha256") not in self.algorithms:
            raise DefinitionError("algorithm", f"must be one of {', '.join(self.algorithms)}")

    def run(self, config: dict[str, Any], ctx: NodeContext) -> Any:
        data = json.dumps(config.get("value"), sort_keys=True).encode()
        if not data:
            return Job(status=Status.FAILED, result={"message": "nothing to hash"})
        digest = hashlib.new(config.get("algorithm", "sha256"), data).hexdigest()
        ctx.logger.debug("execution %s: %s = %s", ctx.execution_id, ctx.node_key, digest)
        return {"algorithm": config.get("algorithm", "sha256"), "digest": digest}


def make_engine() -> Engine:
    """An engine with both node types registered and the example workflow loaded."""
    engine = Engine()
    engine.register_node("slugify", slugify)
    engine.register_node("checksum", Checksum())
    engine.add_workflow(HERE / "custom-node.json")
    return engine


if __name__ == "__main__":
    engine = make_engine()
    run = engine.execute("custom-node", {"body": {"title": "Hello Webhook World", "n": 1}})
    print(json.dumps(run.response, indent=2))
    engine.close()
