"""The scheduler: start each task the moment its joins are satisfied. No supersteps.

It knows only the graph: tasks, their ``needs`` and ``join``, router choices and the
constructs that withdraw running tasks. Running a task and recording a skip or a
cancellation are callbacks, so this module is testable on its own (see
``tests/unit/engine/test_scheduler.py``) and imports no model, store or UI library.

Joins: ``all`` starts a task when every need succeeded; ``any`` when one did; ``{at_least: n}``
when n did; ``activated`` once every need is decided, when those not skipped succeeded. A task
whose join can no longer be met (its needs failed or were skipped) is skipped, and so are the
routes a router did not choose. A task *waiting* for approval holds its dependents back: they
neither start nor are skipped in this execution. A failed task does not cancel its siblings;
an exception (a bug) cancels the whole graph and propagates, and so does a cancel from outside
(each running task records that it was interrupted).

Withdrawing (``engine.region``): a join with ``cancel_rest`` cancels, once met, the running
tasks that only feed its other needs; a task with ``end`` completes this level (running tasks
are cancelled, the others skipped); a task with ``cancels`` cancels those tasks. Tasks holding
the same ``lock`` never overlap.

Waking: a task waiting with a ``wake_at`` (a signal wait with a timeout) is run again at that
time, as long as other tasks of its level are still running; once none is, its timer is
dropped and the task stays waiting (the run ends ``waiting`` and its next resume, or the
server's ``DeadlineTimer``, takes it from there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from datetime import datetime
from functools import partial

from podium.engine.outcome import Outcome
from podium.engine.region import Region, current_region, run_in_region
from podium.ids import TaskId
from podium.task import AtLeast, Task

__all__ = ["Locks", "Outcome", "execute_graph"]

RunTask = Callable[[Task], Awaitable[Outcome]]
SkipTask = Callable[[Task, str], Awaitable[None]]
Locks = MutableMapping[str, asyncio.Lock]
"""The run's critical sections by name, shared by every level of the run."""
SleepUntil = Callable[[datetime], Awaitable[None]]
"""Sleeps until a time on the run's clock."""
InterruptTask = Callable[[Task], Awaitable[None]]
"""Records that the run's stop cut a running task off."""


async def execute_graph(
    tasks: Sequence[Task],
    run_task: RunTask,
    skip_task: SkipTask,
    cancel_task: SkipTask | None = None,
    *,
    locks: Locks | None = None,
    sleep_until: SleepUntil | None = None,
    interrupt_task: InterruptTask | None = None,
) -> dict[TaskId, Outcome]:
    """Run one level of a graph and return every task's outcome.

    Args:
        tasks: the tasks of this level; ``needs`` refer to ids among them (validated).
        run_task: runs one task (limits, retries and the agent inside) and returns its outcome.
        skip_task: records that a task is skipped and why.
        cancel_task: records that a task is cancelled and why (by default nothing is).
        locks: the run's critical sections (by default this level's own).
        sleep_until: how to wait for a waiting task's ``wake_at`` (by default, tasks are
            never woken: they stay waiting).
        interrupt_task: records that the run's stop (a cancel from outside) cut a running
            task off (by default nothing is).
    """
    record = cancel_task or _record_nothing
    own_locks: Locks = {} if locks is None else locks
    schedule = _Schedule(
        tasks,
        run_task,
        skip_task,
        record,
        own_locks,
        sleep_until=sleep_until,
        interrupt_task=interrupt_task,
    )
    return await schedule.execute()


async def _record_nothing(task: Task, reason: str) -> None:
    """Cancellations are not recorded."""


class _Schedule:
    def __init__(
        self,
        tasks: Sequence[Task],
        run_task: RunTask,
        skip_task: SkipTask,
        cancel_task: SkipTask,
        locks: Locks,
        *,
        sleep_until: SleepUntil | None,
        interrupt_task: InterruptTask | None,
    ) -> None:
        self._tasks = tasks
        self._run_task = run_task
        self._skip_task = skip_task
        self._cancel_task = cancel_task
        self._locks = locks
        self._by_id = {t.id: t for t in tasks}
        self._dependents: dict[TaskId, list[Task]] = {t.id: [] for t in tasks}
        self._needs = {t.id: t.needs for t in tasks}
        for task in tasks:
            for need in task.needs:
                self._dependents[need].append(task)
        self._outcomes: dict[TaskId, Outcome] = {}
        self._started: set[TaskId] = set()
        self._excluded: dict[TaskId, str] = {}
        """Tasks to skip when their turn comes (routes not chosen), and why."""
        self._withdrawn: dict[TaskId, str] = {}
        """Tasks cancelled before they started, and why."""
        self._running: dict[TaskId, tuple[Region, asyncio.Task[None]]] = {}
        self._ended: TaskId | None = None
        self._base: Region | None = None
        self._group: asyncio.TaskGroup | None = None
        self._sleep_until = sleep_until
        self._interrupt_task = interrupt_task
        self._active = 0
        """Tasks started and not yet settled (running, or recording a skip or cancellation)."""
        self._timers: dict[TaskId, asyncio.Task[None]] = {}
        """Waiting tasks to run again at their ``wake_at``, while others are active."""

    async def execute(self) -> dict[TaskId, Outcome]:
        self._base = current_region()
        async with asyncio.TaskGroup() as group:
            self._group = group
            for task in self._tasks:
                if not task.needs:
                    self._start(task, "")
        return self._outcomes

    def _start(self, task: Task, skip_reason: str) -> None:
        assert self._group is not None
        self._started.add(task.id)
        skip = skip_reason or self._excluded.get(task.id)
        withdrawn = self._withdrawn.get(task.id)
        self._active += 1
        if withdrawn is not None:
            self._group.create_task(self._end_without_running(task, "cancelled", withdrawn))
        elif skip:
            self._group.create_task(self._end_without_running(task, "skipped", skip))
        else:
            region = Region(parent=self._base)
            handle = self._group.create_task(self._run(task, region))
            self._running[task.id] = (region, handle)

    async def _end_without_running(self, task: Task, status: str, reason: str) -> None:
        if status == "cancelled":
            await self._cancel_task(task, reason)
            self._settle(task, Outcome(status="cancelled", reason=reason))
        else:
            await self._skip_task(task, reason)
            self._settle(task, Outcome(status="skipped", reason=reason))
        self._deactivate()

    async def _run(self, task: Task, region: Region) -> None:
        record = partial(self._cancel_task, task)
        interrupted = partial(self._interrupt_task, task) if self._interrupt_task else None
        outcome = await run_in_region(region, partial(self._attempt, task), record, interrupted)
        del self._running[task.id]
        self._settle(task, outcome)
        if outcome.status == "waiting" and outcome.wake_at is not None:
            self._set_timer(task, outcome.wake_at)
        self._deactivate()

    def _set_timer(self, task: Task, at: datetime) -> None:
        """Run ``task`` again at ``at`` (if others are still active then)."""
        if self._sleep_until is not None:
            assert self._group is not None
            self._timers[task.id] = self._group.create_task(self._wake(task, at))

    async def _wake(self, task: Task, at: datetime) -> None:
        assert self._sleep_until is not None
        await self._sleep_until(at)
        del self._timers[task.id]
        self._start(task, "")

    def _deactivate(self) -> None:
        """One task settled; when none is active, nothing can happen before a timer's time
        but the timers themselves: drop them, and the waiting tasks stay waiting."""
        self._active -= 1
        if self._active == 0:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()

    def _attempt(self, task: Task) -> Awaitable[Outcome]:
        """Run ``task`` (its lock held, if it names one); most tasks name none, and get no
        coroutine of their own around the run."""
        if task.lock is None:
            return self._run_task(task)
        return self._locked(task, task.lock)

    async def _locked(self, task: Task, name: str) -> Outcome:
        async with self._locks.setdefault(name, asyncio.Lock()):
            return await self._run_task(task)

    def _settle(self, task: Task, outcome: Outcome) -> None:
        """Record how ``task`` ended and start (or skip) the dependents that can now go."""
        self._outcomes[task.id] = outcome
        if outcome.status == "waiting":
            return  # its dependents stay unstarted until a human decides and the run resumes
        if outcome.chosen is not None:
            for route in task.routes:
                if route != outcome.chosen:
                    self._excluded[route] = f"router {task.id!r} chose {outcome.chosen!r}"
        if outcome.ok:
            self._withdraw_for(task)
        for child in self._dependents[task.id]:
            if child.id not in self._started:
                self._consider(child)

    def _consider(self, task: Task) -> None:
        """Start ``task``, skip it, or leave it waiting, as its join (or an end) says."""
        if self._ended is not None:
            self._start(task, f"task {self._ended!r} ended the workflow")
            return
        decision = self._decide(task)
        if decision != "wait":
            self._start(task, decision)
            if not decision and task.cancel_rest:
                self._cancel_rest(task)

    def _withdraw_for(self, task: Task) -> None:
        """What a task that succeeded withdraws: everything for ``end``, its ``cancels``."""
        if task.end and self._ended is None:
            self._ended = task.id
            waiting = [t for t, o in self._outcomes.items() if o.status == "waiting"]
            for other in [*self._running, *waiting]:
                self._withdraw(other, f"task {task.id!r} ended the workflow")
        for target in task.cancels:
            self._withdraw(target, f"cancelled by task {task.id!r}")

    def _withdraw(self, task_id: TaskId, reason: str) -> None:
        """Cancel a running task, one waiting (for approval, a signal), or one not started."""
        running = self._running.get(task_id)
        outcome = self._outcomes.get(task_id)
        if running is not None:
            region, handle = running
            region.withdraw(reason, handle)
        elif outcome is not None and outcome.status == "waiting":  # a deferred choice lost
            assert self._group is not None
            task = self._by_id[task_id]
            self._outcomes[task_id] = Outcome(status="cancelled", reason=reason)  # once only
            timer = self._timers.pop(task_id, None)
            if timer is not None:
                timer.cancel()
            self._active += 1
            self._group.create_task(self._end_without_running(task, "cancelled", reason))
        elif task_id not in self._started:
            self._withdrawn.setdefault(task_id, reason)

    def _cancel_rest(self, join: Task) -> None:
        """Cancel what only serves the needs of ``join`` that are still unfinished."""
        unfinished = [n for n in join.needs if n not in self._outcomes]
        serving = _closure(unfinished, lambda t: self._needs[t])
        allowed = serving | {join.id} | _closure([join.id], self._dependent_ids)
        for task_id in serving:
            if _closure([task_id], self._dependent_ids) <= allowed:
                self._withdraw(task_id, f"the join of {join.id!r} was met")

    def _dependent_ids(self, task_id: TaskId) -> Iterable[TaskId]:
        return (t.id for t in self._dependents[task_id])

    def _decide(self, task: Task) -> str:
        """``""`` to start, ``"wait"``, or the reason to skip."""
        # A need waiting for approval is not decided yet: it holds the join back.
        done = [n for n in task.needs if n in self._outcomes and not self._is_waiting(n)]
        if task.join == "activated":
            return self._decide_activated(task, done)
        succeeded = sum(1 for n in done if self._outcomes[n].ok)
        required = _required(task)
        if succeeded >= required:
            return ""
        if len(task.needs) - (len(done) - succeeded) >= required:
            return "wait"
        return self._unmet([n for n in done if not self._outcomes[n].ok])

    def _decide_activated(self, task: Task, done: list[TaskId]) -> str:
        if len(done) < len(task.needs):
            return "wait"
        active = [n for n in done if self._outcomes[n].status not in ("skipped", "cancelled")]
        if not active:
            return "needs not met (none was activated)"
        broken = [n for n in active if not self._outcomes[n].ok]
        return self._unmet(broken) if broken else ""

    def _is_waiting(self, task_id: TaskId) -> bool:
        return self._outcomes[task_id].status == "waiting"

    def _unmet(self, missing: list[TaskId]) -> str:
        detail = ", ".join(f"{n} {self._outcomes[n].status}" for n in missing)
        return f"needs not met ({detail})"


def _closure(start: Iterable[TaskId], step: Callable[[TaskId], Iterable[TaskId]]) -> set[TaskId]:
    """``start`` and every task reached from it by ``step``."""
    seen: set[TaskId] = set()
    todo = list(start)
    while todo:
        task_id = todo.pop()
        if task_id not in seen:
            seen.add(task_id)
            todo.extend(step(task_id))
    return seen


def _required(task: Task) -> int:
    join = task.join
    if isinstance(join, AtLeast):
        return join.at_least
    return len(task.needs) if join == "all" else 1
