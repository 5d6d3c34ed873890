"""Concurrency limits: one global limit and optional per-agent limits.

Only agent tasks hold a slot while they run; composite tasks (map, loop, sub-workflow) wait on
their children without holding one, so nesting cannot deadlock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from podium.agent import Agent

__all__ = ["Limits"]


class Limits:
    """Semaphores bounding how many agent tasks run at once, overall and per agent."""

    def __init__(self, max_concurrency: int) -> None:
        self.max_concurrency = max_concurrency
        self._global = asyncio.Semaphore(max_concurrency)
        self._per_agent: dict[str, asyncio.Semaphore] = {}

    @asynccontextmanager
    async def slot(self, agent: Agent) -> AsyncGenerator[None]:
        """Hold a global slot and, if the agent is limited, one of the agent's."""
        if agent.max_concurrency is None:
            async with self._global:
                yield
            return
        semaphore = self._per_agent.get(agent.name)
        if semaphore is None:
            semaphore = self._per_agent[agent.name] = asyncio.Semaphore(agent.max_concurrency)
        async with semaphore, self._global:
            yield
