"""Opening the SQLite store's connections, with the settings every connection gets.

The first open judges the path in the caller's thread."""

from __future__ import annotations

import os
import sqlite3

from ..errors import StoreUnavailable

__all__ = ["connect", "first_connect"]


def connect(path: str, *, timeout: float, synchronous: str) -> sqlite3.Connection:
    """A connection in autocommit mode (the store opens its own transactions), WAL journal."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def first_connect(path: str, *, timeout: float, synchronous: str) -> sqlite3.Connection:
    """The store's first connection, opened in the constructor's thread so that a bad path
    fails there at once (the writer thread would fail later, where nobody waits for it).

    A path that cannot name a database file (no such folder, a folder, a folder this process
    cannot create files in) raises :class:`ValueError`; SQLite refusing the file (not a
    database, read-only) raises :class:`StoreUnavailable`.
    """
    if path != ":memory:" and not path.startswith("file:"):
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            raise ValueError(f"cannot open {path}: it is a folder")
        if not os.path.exists(folder):
            raise ValueError(f"cannot open {path}: no such folder")
        if not os.path.isdir(folder):
            raise ValueError(f"cannot open {path}: {folder} is not a folder")
        if not os.path.exists(path) and not os.access(folder, os.W_OK | os.X_OK):
            raise ValueError(f"cannot open {path}: cannot create files in {folder}")
    try:
        return connect(path, timeout=timeout, synchronous=synchronous)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open {path}: {exc}") from None
