"""The scheduler: start each task the moment its joins are satisfied. No supersteps.

It knows only the graph: tasks, their ``needs`` and ``join``, and router choices. Running a
task and recording a skip are callbacks, so this module is testable on its own (see
``tests/unit/engine/test_scheduler.py``) and imports no model, store or UI library.

Joins: ``all`` starts a task when every need succeeded; ``any`` when one did; ``{at_least: n}``
when n did. A task whose join can no longer be met (its needs failed or were skipped) is
skipped, and so are the routes a router did not choose. A task *waiting* for approval holds its
dependents back: they neither start nor are skipped in this execution. A failed task does
not cancel its siblings; an exception (a bug) cancels the whole graph and propagates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import JsonValue

from podium.ids import TaskId
from podium.task import AtLeast, Task

__all__ = ["Outcome", "execute_graph"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """How a task ended. Failures are values; only bugs are exceptions."""

    status: Literal["succeeded", "failed", "skipped", "waiting"]
    output: JsonValue = None
    reason: str | None = None
    """Why it failed or was skipped."""
    chosen: TaskId | None = None
    """For a router: the route it chose."""

    @property
    def ok(self) -> bool:
        """Whether the task succeeded."""
        return self.status == "succeeded"


RunTask = Callable[[Task], Awaitable[Outcome]]
SkipTask = Callable[[Task, str], Awaitable[None]]


async def execute_graph(
    tasks: Sequence[Task], run_task: RunTask, skip_task: SkipTask
) -> dict[TaskId, Outcome]:
    """Run one level of a graph and return every task's outcome.

    Args:
        tasks: the tasks of this level; ``needs`` refer to ids among them (validated).
        run_task: runs one task (limits, retries and the agent inside) and returns its outcome.
        skip_task: records that a task is skipped and why.
    """
    return await _Schedule(tasks, run_task, skip_task).execute()


class _Schedule:
    def __init__(self, tasks: Sequence[Task], run_task: RunTask, skip_task: SkipTask) -> None:
        self._tasks = tasks
        self._run_task = run_task
        self._skip_task = skip_task
        self._dependents: dict[TaskId, list[Task]] = {t.id: [] for t in tasks}
        for task in tasks:
            for need in task.needs:
                self._dependents[need].append(task)
        self._outcomes: dict[TaskId, Outcome] = {}
        self._started: set[TaskId] = set()
        self._excluded: dict[TaskId, str] = {}

    async def execute(self) -> dict[TaskId, Outcome]:
        async with asyncio.TaskGroup() as group:
            for task in self._tasks:
                if not task.needs:
                    self._started.add(task.id)
                    group.create_task(self._run(group, task, None))
        return self._outcomes

    async def _run(self, group: asyncio.TaskGroup, task: Task, skip_reason: str | None) -> None:
        reason = skip_reason or self._excluded.get(task.id)
        if reason is not None:
            await self._skip_task(task, reason)
            outcome = Outcome(status="skipped", reason=reason)
        else:
            outcome = await self._run_task(task)
        self._outcomes[task.id] = outcome
        if outcome.status == "waiting":
            return  # its dependents stay unstarted until a human decides and the run resumes
        if outcome.chosen is not None:
            for route in task.routes:
                if route != outcome.chosen:
                    self._excluded[route] = f"router {task.id!r} chose {outcome.chosen!r}"
        for child in self._dependents[task.id]:
            if child.id in self._started:
                continue
            decision = self._decide(child)
            if decision != "wait":
                self._started.add(child.id)
                group.create_task(self._run(group, child, decision or None))

    def _decide(self, task: Task) -> str:
        """``""`` to start, ``"wait"``, or the reason to skip."""
        done = [n for n in task.needs if n in self._outcomes]
        succeeded = sum(1 for n in done if self._outcomes[n].ok)
        required = _required(task)
        if succeeded >= required:
            return ""
        if len(task.needs) - (len(done) - succeeded) >= required:
            return "wait"
        missing = [n for n in done if not self._outcomes[n].ok]
        detail = ", ".join(f"{n} {self._outcomes[n].status}" for n in missing)
        return f"needs not met ({detail})"


def _required(task: Task) -> int:
    join = task.join
    if isinstance(join, AtLeast):
        return join.at_least
    return len(task.needs) if join == "all" else 1
