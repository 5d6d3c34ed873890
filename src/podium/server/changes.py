"""Telling live streams that a run's log grew: ``Changes`` and the ``WatchedStore`` that feeds it.

The server hands ``WatchedStore`` (a ``podium.Store`` wrapping the real one) to every run it
executes and every decision it records, so the moment an append commits, the streams watching
that run wake and read the new events from the store: the log stays the only source, and
nothing is sent that is not durable. Runs recorded by another process (``podium run`` in a
terminal) are not seen this way; the streams also look at the store every ``poll_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

import podium
from podium.event import Event, RunCompleted, RunStatus

__all__ = ["Changes", "WatchedStore", "wait_for_change"]

_RECENT: Final = 1000
"""How many appends ``updates_since`` remembers."""


class Changes:
    """Signals, per run and for any run, that events were appended.

    Take the signal *before* reading the store, then wait on it: an append that commits in
    between has already set it, so no wake-up is lost.
    """

    def __init__(self) -> None:
        self._runs: dict[str, asyncio.Event] = {}
        self._any = asyncio.Event()
        self._waiting = asyncio.Event()
        self._recent: deque[tuple[int, str, int]] = deque(maxlen=_RECENT)
        self.generation = 0
        """How many appends were notified so far."""

    def run_signal(self, run_id: str) -> asyncio.Event:
        """The signal set when ``run_id``'s log next grows."""
        return self._runs.setdefault(run_id, asyncio.Event())

    def any_signal(self) -> asyncio.Event:
        """The signal set when any run's log next grows."""
        return self._any

    def updates_since(self, generation: int) -> tuple[int, dict[str, int]]:
        """The runs appended to after ``generation``, each with its latest ``seq``, and the
        generation to ask from next (appends older than the last ``_RECENT`` are forgotten)."""
        latest = {run_id: seq for gen, run_id, seq in self._recent if gen > generation}
        return self.generation, latest

    def waiting_signal(self) -> asyncio.Event:
        """The signal set when a run next stops ``waiting`` (for a person or a signal; its
        deadline may be the soonest)."""
        return self._waiting

    def notify(self, run_id: str, events: Sequence[Event]) -> None:
        """Wake everyone waiting on ``run_id`` or on any run; called after a commit."""
        self.generation += 1
        if events:
            self._recent.append((self.generation, run_id, events[-1].seq))
        signal = self._runs.pop(run_id, None)
        if signal is not None:
            signal.set()
        self._any.set()
        self._any = asyncio.Event()
        if any(isinstance(e, RunCompleted) and e.status == "waiting" for e in events):
            self._waiting.set()
            self._waiting = asyncio.Event()


async def wait_for_change(signal: asyncio.Event, longest: timedelta) -> None:
    """Wait until ``signal`` is set or ``longest`` has passed, whichever is first."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(longest.total_seconds()):
            await signal.wait()


class WatchedStore:
    """A ``podium.Store`` that tells ``changes`` about each append once it has committed.

    Args:
        inner: the store that holds the logs (closed by the owner, not here).
        changes: whom to tell.
    """

    def __init__(self, inner: podium.Store, changes: Changes) -> None:
        self._inner = inner
        self._changes = changes

    async def append(self, run_id: podium.RunId, events: Sequence[Event]) -> None:
        """Append through the inner store, then notify."""
        await self._inner.append(run_id, events)
        self._changes.notify(run_id, events)

    async def read(self, run_id: podium.RunId, *, after_seq: int = 0) -> list[Event]:
        """Read through the inner store."""
        return await self._inner.read(run_id, after_seq=after_seq)

    async def list_runs(
        self,
        *,
        limit: int = 50,
        prefix: str = "",
        since: datetime | None = None,
        before: datetime | None = None,
        status: RunStatus | None = None,
    ) -> list[podium.RunSummary]:
        """List through the inner store."""
        return await self._inner.list_runs(
            limit=limit, prefix=prefix, since=since, before=before, status=status
        )

    async def delete_run(self, run_id: podium.RunId, *, if_last_seq: int | None = None) -> bool:
        """Delete through the inner store."""
        return await self._inner.delete_run(run_id, if_last_seq=if_last_seq)

    async def aclose(self) -> None:
        """Nothing: the inner store belongs to whoever opened it."""
