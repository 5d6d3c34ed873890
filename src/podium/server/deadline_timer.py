"""``DeadlineTimer``: the timeouts of waiting runs fire on time while the server runs.

A run stops ``waiting`` for what comes from outside it: an approval (a person's decision)
or a signal (``wait:``). Either may carry a deadline and an ``on_timeout`` outcome, which
the engine applies when the run next executes after the deadline. The timer makes that
happen on time: it sleeps (on the server's clock) until the earliest deadline among the
waiting runs, then resumes each run one of whose deadlines has passed; the resumed run
records the timeout's outcome (an approval's default decision, a signal wait's
``on_timeout``). A run that stops to wait wakes the timer at once (its deadline may be the
soonest); runs recorded by other processes are looked at every ``rescan_interval``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Final

import podium
from podium import PodiumError
from podium.server.services import Services

__all__ = ["DeadlineTimer"]

logger = logging.getLogger(__name__)

_SCAN: Final = 1000
"""How many recent runs are looked through for waiting ones."""


class DeadlineTimer:
    """Resumes waiting runs whose approval or signal deadline has passed.

    Args:
        services: the server's store, launcher and clock.
    """

    def __init__(self, services: Services) -> None:
        self._services = services
        self._clock = services.config.clock
        self._tried: dict[str, int] = {}
        """Run id -> the last seq it had when it was resumed for a timeout (tried once)."""

    async def run(self) -> None:
        """Fire due timeouts until cancelled."""
        while True:
            signal = self._services.changes.waiting_signal()  # before the scan: none missed
            try:
                due = await self.fire_due()
            except PodiumError as error:  # the store failed: try again later, keep serving
                logger.warning("deadline timer: %s", error)
                due = None
            await self._wait(self._delay(due), signal)

    async def fire_due(self) -> datetime | None:
        """Resume every waiting run with an expired deadline; return the next deadline."""
        now = self._clock.now()
        soonest: datetime | None = None
        store = self._services.store
        for line in await podium.list_runs(limit=_SCAN, status="waiting", store=store):
            if self._services.launcher.is_executing(line.run_id):
                continue
            state = await podium.get_run(line.run_id, store=store)
            deadlines = state.deadlines()
            if not deadlines:
                continue
            first = min(deadlines)
            if first > now:
                soonest = first if soonest is None else min(soonest, first)
            elif self._tried.get(state.run_id) != state.last_seq:
                self._tried[state.run_id] = state.last_seq
                await self._resume(state.run_id)
        return soonest

    async def _resume(self, run_id: str) -> None:
        logger.info("run %s: a timeout fell due; resuming it", run_id)
        try:
            await self._services.resume(run_id)
        except PodiumError as error:
            logger.warning("run %s: could not resume it after a timeout: %s", run_id, error)

    def _delay(self, due: datetime | None) -> timedelta:
        rescan = self._services.config.rescan_interval
        if due is None:
            return rescan
        return max(timedelta(0), min(rescan, due - self._clock.now()))

    async def _wait(self, delay: timedelta, signal: asyncio.Event) -> None:
        """Sleep ``delay`` on the clock, or less if a run stops to wait."""
        async with asyncio.TaskGroup() as group:
            sleeper = group.create_task(self._clock.sleep(delay))
            waker = group.create_task(signal.wait())
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
            sleeper.cancel()
            waker.cancel()
