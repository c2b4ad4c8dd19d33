"""A read-only view of request headers with repeated fields joined by ``", "``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from multidict import CIMultiDict

__all__ = ["JoinedHeaders"]


class JoinedHeaders(Mapping[str, str]):
    """Case-insensitive mapping over a :class:`multidict.CIMultiDict`; repeated headers are
    joined with ``", "`` (the Node.js convention NocoBase users know)."""

    __slots__ = ("_headers",)

    def __init__(self, headers: CIMultiDict[str]) -> None:
        self._headers = headers

    def __getitem__(self, name: str) -> str:
        values = self._headers.getall(name)
        return values[0] if len(values) == 1 else ", ".join(values)

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        values = self._headers.getall(name, None)
        if values is None:
            return default
        return values[0] if len(values) == 1 else ", ".join(values)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for name in self._headers:
            if name.lower() not in seen:
                seen.add(name.lower())
                yield name

    def __len__(self) -> int:
        return len({name.lower() for name in self._headers})
