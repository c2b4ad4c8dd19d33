"""Shared fixtures: engines with the seed example, and both doors."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from doors import Door

from webhook_workflow import Engine

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "payment-callback.json"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


AUTH = ("Authorization", basic("shop", "s3cret"))
JSON = ("Content-Type", "application/json")
PAID = json.dumps({"order": {"id": "A1", "status": "paid", "amount": 42.5},
                   "items": [{"sku": "x", "qty": 1}]}).encode()


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine()
    yield eng
    eng.close(timeout=5)


@pytest.fixture(params=["wsgi", "asgi"])
def door_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def door(engine: Engine, door_kind: str) -> Door:
    return Door(door_kind, engine)


def example() -> dict[str, Any]:
    return dict(json.loads(EXAMPLE.read_text()))


@pytest.fixture
def servers() -> Iterator[list[Any]]:
    """Server processes a test starts; each is stopped (``.stop()``) afterwards."""
    started: list[Any] = []
    yield started
    for server in started:
        server.stop()
