"""Time as a dependency: the ``Clock`` protocol and the real ``SystemClock``.

The engine never reads the wall clock itself; it asks the injected clock, so tests use
``podium.testing.ManualClock`` and replays are deterministic.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """Tells the time and waits.

    ``now`` is wall time (UTC, for timestamps); ``monotonic`` is seconds from an arbitrary
    origin (for durations); ``sleep`` waits for a duration of this clock's time.
    """

    def now(self) -> datetime:
        """Return the current UTC time."""
        ...

    def monotonic(self) -> float:
        """Return seconds on a clock that never goes backwards."""
        ...

    async def sleep(self, delay: timedelta) -> None:
        """Wait for ``delay`` of this clock's time."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Return ``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, delay: timedelta) -> None:
        """Sleep for ``delay``."""
        await asyncio.sleep(delay.total_seconds())
