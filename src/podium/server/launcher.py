"""Where the runs started from the API execute: the ``Launcher`` seam and ``LocalLauncher``.

``LocalLauncher`` executes them in the server process, each on the server's task group, so a
shutdown cancels them and each records itself cancelled (resumable from the dashboard, like a
Ctrl-C). A launcher that hands runs to the workers of a distributed engine takes its place
without the routes changing: they only ask to start, resume and cancel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol

import podium
from podium import ConfigError, PodiumError, RunStateError
from podium.event import Event

__all__ = ["Execution", "Launcher", "LocalLauncher"]

logger = logging.getLogger(__name__)

Execution = Callable[[Callable[[Event], None]], Awaitable[podium.RunResult]]
"""A run to execute: called with the ``on_event`` callback it must pass to podium."""


class Launcher(Protocol):
    """Executes runs for the server.

    Contract: ``start`` returns once the run's first event of this execution is recorded
    (so its id is known and it shows in ``list_runs``), or raises the error that kept it from
    starting; ``cancel`` stops a run this launcher executes and says whether it did.
    """

    async def start(self, run_id: str | None, execution: Execution) -> podium.RunId:
        """Start ``execution``; ``run_id`` names the run when it is resumed."""
        ...

    def is_executing(self, run_id: str) -> bool:
        """Whether this launcher is executing ``run_id`` now."""
        ...

    def cancel(self, run_id: str) -> bool:
        """Cancel ``run_id`` if this launcher executes it; False if it does not."""
        ...

    def cancel_all(self) -> None:
        """Cancel every run this launcher executes (the server is stopping)."""
        ...


class LocalLauncher:
    """Executes runs as tasks of the server's task group.

    Args:
        group: the task group whose lifetime bounds every run (the app's lifespan).
        start_timeout: how long a run may take to record its first event.
    """

    def __init__(self, group: asyncio.TaskGroup, *, start_timeout: timedelta) -> None:
        self._group = group
        self._start_timeout = start_timeout
        self._running: dict[str, asyncio.Task[None]] = {}

    async def start(self, run_id: str | None, execution: Execution) -> podium.RunId:
        """Start ``execution`` and return its run's id once its first event is recorded.

        Raises:
            RunStateError: ``run_id`` is already executing here.
            PodiumError: the run could not start (a bad workflow, no such run, ...).
        """
        if run_id is not None and self.is_executing(run_id):
            raise RunStateError(f"run {run_id} is already executing in this server")
        started: asyncio.Future[podium.RunId] = asyncio.get_running_loop().create_future()

        def on_event(event: Event) -> None:
            if not started.done():
                started.set_result(event.run_id)

        task = self._group.create_task(self._execute(execution, on_event, started))
        try:
            async with asyncio.timeout(self._start_timeout.total_seconds()):
                started_id = await asyncio.shield(started)
        except TimeoutError:
            task.cancel()
            seconds = self._start_timeout.total_seconds()
            raise PodiumError(f"the run did not record its start within {seconds:g}s") from None
        if not task.done():
            self._running[started_id] = task
            task.add_done_callback(lambda _: self._forget(started_id, task))
        return started_id

    def is_executing(self, run_id: str) -> bool:
        """Whether ``run_id`` is executing in this server now."""
        return run_id in self._running

    def cancel(self, run_id: str) -> bool:
        """Cancel ``run_id``'s task; the engine records the run cancelled as it stops."""
        task = self._running.get(run_id)
        if task is None:
            return False
        task.cancel()
        return True

    def cancel_all(self) -> None:
        """Cancel every run executing here (the server is stopping)."""
        for task in self._running.values():
            task.cancel()

    def _forget(self, run_id: str, task: asyncio.Task[None]) -> None:
        if self._running.get(run_id) is task:
            del self._running[run_id]

    async def _execute(
        self,
        execution: Execution,
        on_event: Callable[[Event], None],
        started: asyncio.Future[podium.RunId],
    ) -> None:
        """Run to the end; an error is the starter's to report, or is logged (never raised,
        so one run's failure does not cancel the server's other runs)."""
        try:
            result = await execution(on_event)
        except PodiumError as error:
            if not started.done():
                started.set_exception(error)
            else:
                logger.error("run stopped on an error: %s", error)
        except Exception as error:  # a bug in one run must not take the server down
            logger.exception("run crashed")
            if not started.done():
                started.set_exception(error)
        else:
            logger.info("run %s ended %s", result.run_id, result.status)
            if not started.done():  # pragma: no cover - a run always records run_started first
                started.set_exception(ConfigError("the run ended without recording anything"))
