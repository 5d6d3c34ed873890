"""ManualClock: a clock tests move by hand, so timing logic needs no sleeps."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta

__all__ = ["ManualClock"]


class ManualClock:
    """A clock that only moves when ``advance`` is called.

    ``sleep`` waits until the clock has been advanced past its deadline.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._elapsed = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._ids = itertools.count()

    def now(self) -> datetime:
        """The start time plus the time advanced so far."""
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        """Seconds advanced so far."""
        return self._elapsed

    async def sleep(self, delay: timedelta) -> None:
        """Wait until the clock is advanced by ``delay``."""
        if delay <= timedelta(0):
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(
            self._sleepers, (self._elapsed + delay.total_seconds(), next(self._ids), future)
        )
        await future

    @property
    def sleepers(self) -> int:
        """How many tasks are waiting on this clock."""
        return sum(1 for *_, f in self._sleepers if not f.done())

    def next_deadline(self) -> timedelta | None:
        """Time from now until the earliest sleeper wakes, or None if none sleeps."""
        pending = [deadline for deadline, _, f in self._sleepers if not f.done()]
        return timedelta(seconds=min(pending) - self._elapsed) if pending else None

    def advance(self, delta: timedelta) -> None:
        """Move time forward, waking every sleeper whose deadline has passed."""
        self._elapsed += delta.total_seconds()
        while self._sleepers and self._sleepers[0][0] <= self._elapsed:
            *_, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
