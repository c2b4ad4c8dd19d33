"""Every test here gets an engine with the secrets and both workflows registered."""

from pathlib import Path
from typing import Any

import pytest

from webhook_workflow import Engine

HERE = Path(__file__).resolve().parent
SECRETS = {"ORDERS_SECRET": "It's a Secret to Everybody",
           "EVENTS_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}


@pytest.fixture
def webhook_engine_options() -> dict[str, Any]:
    # The keyword arguments of the webhook_engine fixture's Engine(...).
    return {"env": SECRETS}


@pytest.fixture(autouse=True)
def workflows(webhook_engine: Engine) -> None:
    webhook_engine.load_directory(HERE)
