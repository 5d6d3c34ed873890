"""``Services``: what the routes share for the server's lifetime (the store, the change
signals, the launcher), the two ways a run comes to execute here (start, resume), and the
dependency that hands them to the routes."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

import podium
from podium.event import Event
from podium.server.changes import Changes, WatchedStore
from podium.server.config import ServerConfig
from podium.server.launcher import Launcher
from podium.server.payload import StartIn
from podium.server.run_list import RunList

__all__ = ["Services", "ServicesDep", "services"]


@dataclass(slots=True, kw_only=True)
class Services:
    """The server's store, change signals, launcher and per-run decision locks."""

    config: ServerConfig
    store: WatchedStore
    changes: Changes
    launcher: Launcher
    runs: RunList
    """The recent runs, read again only when they may have changed."""
    decision_locks: defaultdict[str, asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )
    """One lock per run: two people deciding on one run at once are answered one by one,
    so the second reads the first's decision (and gets a clear conflict)."""

    async def start(self, body: StartIn) -> podium.RunId:
        """Execute a new run here; its id once it is recorded."""

        async def execution(on_event: Callable[[Event], None]) -> podium.RunResult:
            return await podium.arun(
                body.workflow,
                body.inputs,
                goal=body.goal,
                docs=body.docs,
                approve_plan=body.approve_plan,
                budget=body.budget,
                model=body.model,
                store=self.store,
                clock=self.config.clock,
                on_event=on_event,
            )

        return await self.launcher.start(None, execution)

    async def resume(self, run_id: str, budget: podium.Budget | None = None) -> podium.RunId:
        """Resume ``run_id`` (or the run its first characters name) here; its full id."""
        state = await podium.get_run(run_id, store=self.store)

        async def execution(on_event: Callable[[Event], None]) -> podium.RunResult:
            return await podium.resume(
                state.run_id,
                store=self.store,
                budget=budget,
                clock=self.config.clock,
                on_event=on_event,
            )

        return await self.launcher.start(state.run_id, execution)


def services(request: Request) -> Services:
    """FastAPI dependency: the running app's services."""
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]
