"""``RunList``: the recent runs, as ``GET /v1/runs`` and the dashboard ask for them often.

Listing folds every listed run's log, so the answer is kept and served again while it is
known to be current: until this server's runs record anything (``Changes`` says so the
moment it is committed), and for at most ``poll_interval`` for runs that other processes
record, the same delay as the live streams have for them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import podium
from podium.server.changes import Changes

__all__ = ["RunList"]


@dataclass(frozen=True, slots=True)
class _Kept:
    generation: int
    at: float
    """Event-loop time when it was read."""
    lines: tuple[podium.RunSummary, ...]


class RunList:
    """The most recent runs of a store, read again only when they may have changed.

    Args:
        store: the server's store.
        changes: what tells of this server's commits.
        longest: how long an answer may serve for runs recorded by other processes.
    """

    def __init__(self, store: podium.Store, changes: Changes, longest: timedelta) -> None:
        self._store = store
        self._changes = changes
        self._longest = longest.total_seconds()
        self._kept: dict[int, _Kept] = {}
        self._lock = asyncio.Lock()

    async def recent(self, limit: int) -> tuple[podium.RunSummary, ...]:
        """The ``limit`` most recently started runs, newest first."""
        kept = self._current(limit)
        if kept is not None:
            return kept.lines
        async with self._lock:  # one read for all the requests that arrive meanwhile
            kept = self._current(limit)
            if kept is None:
                generation, now = self._changes.generation, asyncio.get_running_loop().time()
                lines = await podium.list_runs(limit=limit, store=self._store)
                kept = self._kept[limit] = _Kept(generation, now, tuple(lines))
            return kept.lines

    def _current(self, limit: int) -> _Kept | None:
        kept = self._kept.get(limit)
        if kept is None or kept.generation != self._changes.generation:
            return None
        if asyncio.get_running_loop().time() - kept.at > self._longest:
            return None
        return kept
