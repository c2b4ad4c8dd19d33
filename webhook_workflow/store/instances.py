"""Instance numbers of ids, claimed in a durable store so that processes sharing it never share one.

Ids (:mod:`webhook_workflow.ids`) hold 10 bits of instance number. Random numbers would collide
(of 40 processes, two share a number more often than not), so each durable store keeps a
table of claimed numbers (:mod:`~webhook_workflow.store.instance_claims`). An engine claims
the process's number in its store when it opens it; the claim is a lease, renewed every
``lease``/3 seconds by a thread started with the engine's workers (and, failing that, before
the next id), and given back when the engine closes. A number whose lease has passed (its
process died) is claimed again; when all 1024 are held,
:class:`~webhook_workflow.errors.InstanceNumbersExhausted`.

A process has one number for all its ids, so it holds that number in every durable store its
engines use; a forked child claims its own before its first id. The lowest free number is
taken (the number it held before, if that is still free), and ids of a number taken over
start after the time its previous holder's lease ended, so they never meet its ids either.
A process stops using a number before the store could hand it to another (the lease less a
margin), and refuses ids, rather than repeat any, while it cannot renew it.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import threading
import time
import weakref
from collections.abc import Collection

from ..errors import InstanceNumbersExhausted, StoreUnavailable
from ..ids import MAX_INSTANCE, generator
from .base import Store
from .instance_claims import ALL_NUMBERS, ClaimsGone, StoreClaims, claims_of

__all__ = ["InstanceHold", "hold_instance", "valid_for"]

logger = logging.getLogger("webhook_workflow.instances")


def valid_for(lease: float) -> float:
    """How long after a claim is sent its number may be used: the lease less a margin, so
    the store never hands the number on while this process may still use it."""
    return lease - min(lease / 4, 5.0)


class _Entry:
    """One engine's store, in which this process holds its number."""

    __slots__ = ("__weakref__", "claims", "lease", "number", "until")

    def __init__(self, claims: StoreClaims, lease: float) -> None:
        self.claims = claims
        self.lease = lease
        self.number: int | None = None  # the number held in this store
        self.until = -math.inf  # time.monotonic() until which it may be used


class _Process:
    """This process's number, held in the store of every engine (the ids' keeper)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.holder = secrets.token_hex(16)
        self.entries: list[_Entry] = []
        self.number: int | None = None
        self.failed_until = 0.0  # after a failed refresh, fail fast until then
        self.thread: threading.Thread | None = None
        self.thread_pid = 0
        self.wake = threading.Event()

    # -- holding ------------------------------------------------------------------------------
    def add(self, entry: _Entry) -> None:
        with self.lock:
            self.entries.append(entry)
            generator.keeper = self
            try:
                number = self.number
                if number is not None and generator.holds():
                    # The other stores hold it: the same number here, if it is free.
                    got = self._claim(entry, number, ALL_NUMBERS - {number})
                    if got is not None:
                        entry.number, entry.until = number, time.monotonic() + valid_for(
                            entry.lease)
                        generator.grant(number, min(e.until for e in self.entries), got[1])
                        return
                self._renew_or_claim()
            except BaseException:
                if entry in self.entries:
                    self.entries.remove(entry)
                self._settle()
                raise

    def remove(self, entry: _Entry, *, release: bool) -> None:
        with self.lock:
            if entry not in self.entries:
                return
            self.entries.remove(entry)
            # Another engine may hold the same number in the same database: it stays.
            shared = any(e.number == entry.number and e.claims.database == entry.claims.database
                         for e in self.entries)
            if release and entry.number is not None and not shared \
                    and not entry.claims.closed():  # a closed store's claim ends by itself
                try:
                    entry.claims.release(self.holder, entry.number, generator.last_ms)
                except StoreUnavailable as exc:  # the lease ends by itself
                    logger.warning("releasing instance number %s failed: %s", entry.number, exc)
            self._settle()
            self.wake.set()

    def _settle(self) -> None:
        """Grant what the entries left hold, or go on alone without any."""
        if not self.entries:
            generator.release_to(self.number if self.number is not None
                                 else secrets.randbelow(MAX_INSTANCE + 1))
        elif self.number is not None and all(e.number == self.number for e in self.entries):
            generator.grant(self.number, min(e.until for e in self.entries))

    def _claim(self, entry: _Entry, prefer: int | None,
               exclude: Collection[int]) -> tuple[int, int] | None:
        try:
            return entry.claims.claim(self.holder, prefer, exclude, entry.lease)
        except ClaimsGone:
            self._drop(entry)
            raise

    def _renew(self, entry: _Entry, number: int) -> bool:
        try:
            return entry.claims.renew(self.holder, number, entry.lease)
        except ClaimsGone:
            self._drop(entry)
            raise

    def _drop(self, entry: _Entry) -> None:
        """A store whose table of claims is gone (dropped) holds no number any more."""
        logger.warning("instance numbers: %s has no table of claims any more",
                       entry.claims.database)
        if entry in self.entries:
            self.entries.remove(entry)

    # -- the keeper ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Renew (or claim) the number in every store now, unless another thread just did;
        raise when it cannot be done."""
        self.renew(needed=True)

    def renew(self, *, needed: bool = False) -> None:
        """Renew (or claim) the number in every store; ``needed``: only if the ids lack it."""
        # Before the lock: the renewing thread may hold it while it waits for this writer.
        if any(e.claims.blocks_here() for e in list(self.entries)):
            raise StoreUnavailable("no instance number for ids: its claim lapsed and cannot "
                                   "be renewed from the store's writer")
        with self.lock:
            if needed and generator.holds():
                return  # renewed while this thread waited for the lock
            if time.monotonic() < self.failed_until:
                raise StoreUnavailable("no instance number for ids: the store did not renew "
                                       "its claim (retrying)")
            try:
                self._renew_or_claim()
            except StoreUnavailable:
                self.failed_until = time.monotonic() + 1.0
                raise
            self.failed_until = 0.0

    def _renew_or_claim(self) -> None:
        while True:
            try:
                self._hold()
                return
            except ClaimsGone:
                continue  # that store left the entries: hold the number in the others

    def _hold(self) -> None:
        self.entries = [e for e in self.entries if not e.claims.closed()]
        if not self.entries:
            self._settle()
            return
        number = self.number
        if number is not None and all(e.number == number for e in self.entries):
            start = time.monotonic()
            if all(self._renew(e, number) for e in list(self.entries)):
                for entry in self.entries:
                    entry.until = start + valid_for(entry.lease)
                generator.grant(number, min(e.until for e in self.entries))
                return
        self._claim_everywhere()

    def _claim_everywhere(self) -> None:
        """One number free in every store: the one held, else the lowest free in the first
        store that the others have free too."""
        excluded: set[int] = set()
        prefer = self.number
        # A store that lacks the number asks first: when it has none free, that is the answer.
        first, *rest = sorted(self.entries, key=lambda e: e.number == self.number)
        for _ in ALL_NUMBERS:
            start = time.monotonic()
            got = self._claim(first, prefer, excluded)
            if got is None:
                raise InstanceNumbersExhausted(
                    "all 1024 instance numbers are held by live processes"
                    + (" (none is free in every store this process uses)" if excluded else "")
                    + "; a number is free again when its process closes or its lease passes")
            number, floor = got
            claimed = [first]
            for entry in rest:
                other = self._claim(entry, number, ALL_NUMBERS - {number})
                if other is None:
                    break
                claimed.append(entry)
                floor = max(floor, other[1])
            else:
                for entry in self.entries:
                    if entry.number is not None and entry.number != number:
                        self._let_go(entry, entry.number)
                    entry.number, entry.until = number, start + valid_for(entry.lease)
                self.number = number
                generator.grant(number, min(e.until for e in self.entries), floor)
                return
            for entry in claimed:  # taken elsewhere: give back what this round took
                if entry.number != number:
                    self._let_go(entry, number)
            excluded.add(number)
            prefer = None
        raise InstanceNumbersExhausted("no instance number is free in every store this "
                                       "process uses")

    def _let_go(self, entry: _Entry, number: int) -> None:
        try:
            entry.claims.release(self.holder, number, generator.last_ms)
        except StoreUnavailable as exc:
            logger.warning("releasing instance number %s failed: %s", number, exc)

    # -- renewing ------------------------------------------------------------------------------
    def keep(self) -> None:
        """Renew the claims on a thread of this process from now on (idempotent)."""
        with self.lock:
            if not self.entries or (self.thread is not None and self.thread.is_alive()
                                    and self.thread_pid == os.getpid()):
                return
            self.wake.clear()
            self.thread = threading.Thread(target=self._renewing, daemon=True,
                                           name="webhook-workflow-instance")
            self.thread_pid = os.getpid()
            self.thread.start()

    def _renewing(self) -> None:
        while True:
            with self.lock:
                if not self.entries or self.thread is not threading.current_thread():
                    return
                interval = max(0.01, min(e.lease for e in self.entries) / 3)
            self.wake.wait(interval)
            self.wake.clear()
            try:
                self.renew()
            except Exception as exc:  # the ids refuse to go on; keep trying
                logger.warning("renewing the instance number failed: %s", exc)

    # -- fork ------------------------------------------------------------------------------------
    def _before_fork(self) -> None:
        self.lock.acquire()

    def _after_fork_parent(self) -> None:
        self.lock.release()

    def _after_fork_child(self) -> None:
        # The parent goes on holding its number: this process is a new holder.
        self.lock = threading.RLock()
        self.holder = secrets.token_hex(16)
        self.number = None
        self.failed_until = 0.0
        self.thread = None
        self.wake = threading.Event()
        for entry in self.entries:
            entry.number, entry.until = None, -math.inf


_process = _Process()
os.register_at_fork(before=_process._before_fork, after_in_parent=_process._after_fork_parent,
                    after_in_child=_process._after_fork_child)


class InstanceHold:
    """An engine's hold on the process's instance number in its store."""

    def __init__(self, entry: _Entry | None) -> None:
        self._entry = entry

    def keep(self) -> None:
        """Renew the claim in the background from now on (the engine's workers start)."""
        if self._entry is not None:
            _process.keep()

    def release(self) -> None:
        """Give the number back to the store (idempotent); call before closing the store."""
        entry, self._entry = self._entry, None
        if entry is not None:
            _process.remove(entry, release=True)


def hold_instance(store: Store, lease: float, owner: object | None = None) -> InstanceHold:
    """Claim the process's instance number in ``store`` for ``lease`` seconds at a time (no-op
    for stores without claims). When ``owner`` is garbage collected unreleased, the hold is
    dropped and its lease runs out."""
    claims = claims_of(store)
    if claims is None:
        return InstanceHold(None)
    entry = _Entry(claims, float(lease))
    _process.add(entry)
    if owner is not None:
        ref = weakref.ref(entry)
        weakref.finalize(owner, _forget, ref)
    return InstanceHold(entry)


def _forget(ref: weakref.ref[_Entry]) -> None:
    entry = ref()
    if entry is not None:
        _process.remove(entry, release=False)
