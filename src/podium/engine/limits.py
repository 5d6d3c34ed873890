"""Concurrency limits: an optional global limit and optional per-agent limits.

Only agent tasks hold a slot while they run; composite tasks (map, loop, sub-workflow) wait on
their children without holding one, so nesting cannot deadlock. There is no limit unless the
workflow, the run or an agent sets one; an attempt that waits on a limit says which and for
how long in its ``task_started`` event, so ``podium show`` and the live view can tell that a
limit throttled the run. With no limit, taking a slot costs nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from podium.agent import Agent
from podium.clock import Clock

__all__ = ["Limits", "Wait"]


@dataclass(frozen=True, slots=True)
class Wait:
    """How long an attempt waited for a slot, and on which limit."""

    limit: str
    """``max_concurrency 16``, or ``agent writer's max_concurrency 2``."""
    seconds: float


class Limits:
    """Semaphores bounding how many agent tasks run at once, overall and per agent."""

    def __init__(self, max_concurrency: int | None, clock: Clock) -> None:
        self.max_concurrency = max_concurrency
        self._clock = clock
        self._global = None if max_concurrency is None else asyncio.Semaphore(max_concurrency)
        self._per_agent: dict[str, asyncio.Semaphore] = {}

    def is_limited(self, agent: Agent) -> bool:
        """Whether a task of ``agent`` has a slot to take (some limit applies to it)."""
        return agent.max_concurrency is not None or self._global is not None

    @asynccontextmanager
    async def slot(self, agent: Agent) -> AsyncGenerator[Wait | None]:
        """Hold the agent's slot, if it is limited, and a global one, if there is a limit.

        Yields:
            How long it waited and on which limit, or None if it did not wait.
        """
        gates = self._gates(agent)
        if not gates:
            yield None
            return
        limit = next((name for name, gate in gates if gate.locked()), None)
        started = self._clock.monotonic() if limit is not None else 0.0
        async with AsyncExitStack() as stack:
            for _, gate in gates:
                await stack.enter_async_context(gate)
            yield None if limit is None else Wait(limit, self._clock.monotonic() - started)

    def _gates(self, agent: Agent) -> list[tuple[str, asyncio.Semaphore]]:
        gates: list[tuple[str, asyncio.Semaphore]] = []
        if agent.max_concurrency is not None:
            semaphore = self._per_agent.get(agent.name)
            if semaphore is None:
                semaphore = asyncio.Semaphore(agent.max_concurrency)
                self._per_agent[agent.name] = semaphore
            limit = f"agent {agent.name}'s max_concurrency {agent.max_concurrency}"
            gates.append((limit, semaphore))
        if self._global is not None:
            gates.append((f"max_concurrency {self.max_concurrency}", self._global))
        return gates
