"""Cancel regions: a running task (and everything inside it) withdrawn by the workflow itself.

A cancelling join (``cancel_rest``), a map that stops early, a task that ends its workflow
(``end``) and a task that cancels others (``cancels``) all withdraw tasks that are running.
Each task the scheduler (or a map) starts runs in its own ``Region``, a child of the region
it was started from. Withdrawing a task sets its region's reason and cancels its asyncio
task, so its in-flight model and tool calls stop at once and nothing more is paid for.

A task whose region (or an enclosing one) was withdrawn records ``task_cancelled``: the
cancellation is an outcome, not a failure, and a resumed run keeps it. A cancellation that
comes from outside (Ctrl-C, a budget, the server stopping) propagates, each running task
recording ``task_cancelled`` with ``is_interrupted`` on its way out, so the log says what
became of it; a resumed run runs those again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass

from podium.engine.outcome import Outcome

__all__ = ["Region", "current_region", "run_in_region"]

_FINAL_EVENT_TIMEOUT = 5.0


@dataclass(slots=True, eq=False)
class Region:
    """Where one task runs; withdrawn as a unit with everything started inside it."""

    parent: Region | None
    reason: str | None = None
    """Why this region was withdrawn; None while it is not."""
    is_entered: bool = False
    """Whether its task began to run (one withdrawn before then never starts its work)."""

    def withdrawn(self) -> str | None:
        """Why this region, or one it is inside, was withdrawn; None when none was."""
        region: Region | None = self
        while region is not None:
            if region.reason is not None:
                return region.reason
            region = region.parent
        return None

    def withdraw(self, reason: str, task: asyncio.Task[None]) -> None:
        """Withdraw the task running in this region (once: the first reason stays)."""
        if self.reason is None:
            self.reason = reason
            if self.is_entered:  # else ``run_in_region`` sees the reason when it begins
                task.cancel()


_current: ContextVar[Region | None] = ContextVar("podium_region", default=None)


def current_region() -> Region | None:
    """The region the current task runs in (None outside any: the run's top level)."""
    return _current.get()


async def run_in_region(
    region: Region,
    work: Callable[[], Awaitable[Outcome]],
    record: Callable[[str], Awaitable[None]],
    interrupted: Callable[[], Awaitable[None]] | None = None,
) -> Outcome:
    """Run ``work`` in ``region``; when the region is withdrawn, record it and say so.

    Must run in its own asyncio task (the one ``Region.withdraw`` cancels).

    Args:
        region: the task's region, a child of the region that started it.
        work: runs the task.
        record: records that the task was cancelled, and why.
        interrupted: records that the run's own stop cut the task off (by default nothing is).

    Returns:
        The task's outcome; ``cancelled`` when its own region was withdrawn.

    Raises:
        asyncio.CancelledError: the run itself was cancelled, or an enclosing region was
            withdrawn (that region's task ends as cancelled).
    """
    _current.set(region)  # this asyncio task's own context: its children start inside it
    region.is_entered = True
    if region.reason is not None:  # withdrawn before it began
        await record(region.reason)
        return Outcome(status="cancelled", reason=region.reason)
    try:
        return await work()
    except asyncio.CancelledError:
        reason = region.withdrawn()
        if reason is None:  # cancelled from outside: the run stops, and this task with it
            if interrupted is not None:
                async with asyncio.timeout(_FINAL_EVENT_TIMEOUT):
                    await asyncio.shield(interrupted())
            raise
        async with asyncio.timeout(_FINAL_EVENT_TIMEOUT):
            await asyncio.shield(record(reason))
        task = asyncio.current_task()
        assert task is not None
        if region.reason is None or task.uncancel() > 0:
            raise  # an enclosing region was withdrawn, or the run is cancelled too
        return Outcome(status="cancelled", reason=reason)
