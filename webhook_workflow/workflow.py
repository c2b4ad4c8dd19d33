"""The public view of a registered workflow version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Workflow"]


@dataclass(frozen=True, slots=True)
class Workflow:
    """A registered workflow version.

    ``url_path`` is the webhook path relative to where the door is mounted
    (``{base_path}/{key}``); ``digest`` is the SHA-256 of the canonical definition, which is
    what makes two registrations the same version.
    """

    key: str
    version: int
    title: str | None
    sync: bool
    enabled: bool
    url_path: str
    digest: str
    definition: dict[str, Any]
