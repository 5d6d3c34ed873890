"""Running podium for a protocol peer while telling it, in order, what the run does.

``run_reporting(start, report)`` starts a run with an ``on_event`` callback and hands each
event, in order, to the async ``report`` (an MCP progress notification, an A2A status update)
while the run goes on. Uses only the public API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import podium
from podium.event import Event

__all__ = ["Start", "run_reporting"]

Start = Callable[[Callable[[Event], None]], Awaitable[podium.RunResult]]
"""Starts a run (``podium.arun``, ``podium.resume``) with the given ``on_event``."""


async def run_reporting(
    start: Start, report: Callable[[Event], Awaitable[None]]
) -> podium.RunResult:
    """Run ``start`` and ``report`` each event it records, in order, as the run goes.

    Raises:
        ConfigError: the run could not start (a bad input, an unknown run); not wrapped.
    """
    events: asyncio.Queue[Event | None] = asyncio.Queue()

    async def pump() -> None:
        while (event := await events.get()) is not None:
            await report(event)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(pump())
            try:
                return await start(events.put_nowait)
            finally:
                events.put_nowait(None)
    except* podium.ConfigError as caught:
        raise caught.exceptions[0] from None
