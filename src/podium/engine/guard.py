"""Guard: stops a run that goes over a budget or repeats itself without progress.

The guard subscribes to the run's recorder and folds every event into meters, one per budget
scope: the run (the workflow's ``budget``), each agent with a budget (over the whole run) and
each task instance with a budget (one loop iteration or map item; a map, loop or sub-workflow
task's meter also counts its children). After each ``task_started``, ``model_called`` and
task end it checks the meters the event touched; a watchdog on the injected clock checks
wall-time budgets when no event comes. The first limit found exceeded is the run's stop: the
running graph is cancelled, a ``budget_exceeded`` event records the scope, limit, amounts
and reason, and the engine ends the run ``failed`` with the error ``budget exceeded: ...``.
What was written before (context, outputs, events) stays in the log.

Amounts are the log's: a resumed run starts from the totals of its whole log (the guard folds
the history first), so a run stopped by a budget stops again on resume until the budget is
raised: in the workflow, or for the run with ``podium resume --max-...``. A counted limit
(tokens, cost, model calls, tasks) is exceeded when the amount goes *over* it, so it is
checked after the fact: a run may go over by the calls in flight when it stops. A wall-time
limit is exceeded when it is reached.

Loops are the ``LoopDetector``'s (``podium.engine.loop_detector``): a call recorded over and
over without a new context write stops the run the same way, with ``limit="loop"``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar, assert_never

from podium.clock import Clock
from podium.engine.loop_detector import MAX_IDENTICAL_CALLS, LoopDetector
from podium.engine.meter import RUN_KEY, Budgets, Meter, Stop, TaskKey
from podium.engine.recorder import Recorder
from podium.event import (
    AgentChosen,
    ApprovalDenied,
    ApprovalGranted,
    ApprovalRequested,
    BudgetExceeded,
    CircuitChanged,
    ClaimVerified,
    ContextWritten,
    Event,
    FeedbackRecorded,
    LoopIterated,
    MapExpanded,
    ModelCalled,
    OutputRejected,
    PlanCreated,
    PlanRejected,
    PlanRepaired,
    RouteChosen,
    RunCompleted,
    RunResumed,
    RunStarted,
    SignalAwaited,
    SignalReceived,
    SourcesRetrieved,
    TaskCancelled,
    TaskFailed,
    TaskRerouted,
    TaskRetried,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
    ToolCalled,
    ToolDenied,
)
from podium.ids import TaskId
from podium.workflow.model import Workflow

__all__ = ["MAX_IDENTICAL_CALLS", "Guard", "Stop"]

T = TypeVar("T")
_INDEX = re.compile(r"\[\d+\]")


class Guard:
    """Enforces a run's budgets and stops runaway loops; see the module docstring.

    Args:
        workflow: the run's workflow, whose budgets (and its agents', tasks' and
            sub-workflows') apply.
        clock: the run's clock (wall time and the watchdog).
        history: the run's log so far (a resumed run); its amounts count.
        max_identical_calls: how often one call may repeat without progress.
    """

    def __init__(
        self,
        workflow: Workflow,
        *,
        clock: Clock,
        history: Sequence[Event] = (),
        max_identical_calls: int = MAX_IDENTICAL_CALLS,
    ) -> None:
        self._clock = clock
        self._budgets = Budgets.of(workflow)
        self._has_budgets = bool(workflow.budget or self._budgets.agents or self._budgets.tasks)
        self._run = Meter("run", "the run", workflow.budget) if workflow.budget else None
        self._agents: dict[str, Meter] = {}
        self._tasks: dict[TaskKey, Meter] = {}
        self._is_timed = bool(workflow.budget and workflow.budget.max_wall_time)
        self._is_timed |= self._budgets.has_timed_tasks
        self._timed: dict[Meter, None] = {}
        """Meters with a wall-time budget and time running, in the order they started."""
        self._open: dict[TaskKey, list[Meter]] = {}
        """The meters timing each running task instance."""
        self._iteration: dict[TaskId, int] = {}
        self._loops = LoopDetector(max_identical_calls)
        self._last_at: datetime | None = None
        self._target: asyncio.Task[Any] | None = None  # Any: whatever the driver returns
        self._rearm: asyncio.Event | None = None
        self.stop: Stop | None = None
        """Why the run was stopped, once it was."""
        for event in history:
            self._fold(event)
            self._loops.observe(event, self._iteration)  # a stop found here was recorded

    async def run(
        self, graph: Callable[[], Coroutine[Any, Any, T]], recorder: Recorder
    ) -> T | None:
        """Run ``graph()`` in a task the guard may cancel; None when the guard stopped it.

        The stop is recorded (``budget_exceeded``) before this returns. A budget already
        exceeded (a resumed run) stops the run before the graph starts. An exception in the
        graph propagates (in an ``ExceptionGroup``), and so does cancelling the caller.
        """
        self._check(self._meters())
        if self.stop is None:
            async with asyncio.TaskGroup() as group:
                work = self._target = group.create_task(graph())
                if self._is_timed:
                    watchdog = group.create_task(self._watch())
                    work.add_done_callback(lambda _: watchdog.cancel())
            self._target = None
            if self.stop is None:
                return work.result()
        stop = self.stop
        assert stop is not None
        await recorder.emit(
            partial(
                BudgetExceeded,
                scope=stop.scope,
                limit=stop.limit,
                used=stop.used,
                allowed=stop.allowed,
                reason=stop.reason,
            )
        )
        return None

    def observe(self, event: Event) -> None:
        """Recorder subscriber: fold ``event`` in; stop the run if it broke a limit."""
        touched = self._fold(event)
        if self.stop is not None:
            return
        if touched:
            self._check(touched)
            if self._rearm is not None and any(m.budget.max_wall_time for m in touched):
                self._rearm.set()
        looping = self._loops.observe(event, self._iteration)
        if looping is not None:
            self._trip(looping)

    async def _watch(self) -> None:
        """Stop the run when a wall-time budget runs out, even if no event comes."""
        rearm = self._rearm = asyncio.Event()
        async with asyncio.TaskGroup() as naps:
            while self.stop is None:
                rearm.clear()
                nap = naps.create_task(self._nap(self._next_deadline(), rearm))
                await rearm.wait()
                nap.cancel()
                self._check(list(self._timed))

    async def _nap(self, deadline: datetime | None, rearm: asyncio.Event) -> None:
        if deadline is None:
            return  # nothing is timed now: only an event can start a clock
        await self._clock.sleep(max(deadline - self._clock.now(), timedelta(0)))
        rearm.set()

    def _next_deadline(self) -> datetime | None:
        now = self._clock.now()
        deadlines = [d for m in self._timed if (d := m.deadline(now)) is not None]
        return min(deadlines, default=None)

    def _check(self, meters: Iterable[Meter]) -> None:
        now = self._clock.now()
        for meter in meters:
            over = meter.over(now)
            if over is not None:
                self._trip(over)
                return

    def _trip(self, stop: Stop) -> None:
        if self.stop is not None:
            return
        self.stop = stop
        if self._target is not None:
            self._target.cancel()

    def _meters(self) -> Iterator[Meter]:
        if self._run is not None:
            yield self._run
        yield from self._agents.values()
        yield from self._tasks.values()

    # -- folding events into meters --------------------------------------------------------------

    def _fold(self, event: Event) -> list[Meter]:
        """Fold one event in; return the meters it changed."""
        if not self._has_budgets:  # only the loop detector works: it needs the iterations
            if isinstance(event, TaskStarted):
                self._iteration[event.task_id] = event.iteration
            return []
        touched: list[Meter] = []
        match event:
            case RunStarted() | RunResumed():
                self._close_all(self._last_at or event.at)  # the last execution ended there
                if self._run is not None:
                    self._time(self._run, RUN_KEY, event.at)
            case RunCompleted():
                self._close_all(event.at)
            case TaskStarted():
                touched = self._start(event)
            case ModelCalled():
                touched = self._charge(event)
            case (
                TaskSucceeded()
                | TaskFailed()
                | TaskSkipped()
                | TaskCancelled()
                | ApprovalRequested()
                | SignalAwaited()
            ):
                touched = self._end((event.task_id, event.iteration), event.at)
            case (
                ToolCalled()
                | OutputRejected()
                | ContextWritten()
                | TaskRetried()
                | RouteChosen()
                | MapExpanded()
                | LoopIterated()
                | TaskRerouted()
                | CircuitChanged()
                | BudgetExceeded()
                | ApprovalGranted()
                | ApprovalDenied()
                | AgentChosen()
                | FeedbackRecorded()
                | PlanCreated()
                | PlanRepaired()
                | PlanRejected()
                | SourcesRetrieved()
                | ClaimVerified()
                | ToolDenied()
                | SignalReceived()
            ):
                pass
            case _:
                assert_never(event)
        self._last_at = event.at
        return touched

    def _start(self, event: TaskStarted) -> list[Meter]:
        key = (event.task_id, event.iteration)
        self._iteration[event.task_id] = event.iteration
        agent = self._agent_meter(event.agent) if event.agent is not None else None
        timing = [m for m in (self._task_meter(key), agent) if m is not None]
        for meter in timing:
            self._time(meter, key, event.at)
        self._open[key] = timing
        counting = [m for m in (self._run, *timing, *self._ancestors(event.task_id)) if m]
        if event.agent is not None:
            for meter in counting:
                meter.started.add(key)
        return counting

    def _charge(self, event: ModelCalled) -> list[Meter]:
        key = (event.task_id, self._iteration.get(event.task_id, 0))
        meters = [self._run, self._agent_meter(event.agent), self._tasks.get(key)]
        charged = [m for m in (*meters, *self._ancestors(event.task_id)) if m is not None]
        for meter in charged:
            meter.tokens += event.input_tokens + event.output_tokens
            meter.cost += event.cost
            meter.model_calls += 1
        return charged

    def _end(self, key: TaskKey, at: datetime) -> list[Meter]:
        timing = self._open.pop(key, [])
        for meter in timing:
            self._stop_timing(meter, key, at)
        return timing

    def _close_all(self, at: datetime) -> None:
        if self._run is not None:
            self._stop_timing(self._run, RUN_KEY, at)
        for key in list(self._open):
            self._end(key, at)

    def _time(self, meter: Meter, key: TaskKey, at: datetime) -> None:
        meter.open(key, at)
        if meter.budget.max_wall_time is not None:
            self._timed[meter] = None

    def _stop_timing(self, meter: Meter, key: TaskKey, at: datetime) -> None:
        meter.close(key, at)
        if not meter.running:
            self._timed.pop(meter, None)

    def _agent_meter(self, name: str) -> Meter | None:
        meter = self._agents.get(name)
        budget = self._budgets.agents.get(name)
        if meter is None and budget is not None:
            meter = self._agents[name] = Meter(f"agent:{name}", f"agent {name!r}", budget)
        return meter

    def _task_meter(self, key: TaskKey) -> Meter | None:
        meter = self._tasks.get(key)
        budget = self._budgets.tasks.get(_INDEX.sub("[]", key[0])) if self._budgets.tasks else None
        if meter is None and budget is not None:
            task_id, iteration = key
            who = f"task {task_id!r}" + (f" (iteration {iteration})" if iteration else "")
            meter = self._tasks[key] = Meter(f"task:{task_id}", who, budget)
        return meter

    def _ancestors(self, task_id: TaskId) -> Iterator[Meter]:
        """The meters of the running composite tasks ``task_id`` is inside of."""
        if not self._tasks:
            return
        for index, char in enumerate(task_id):
            if char in "/[":
                parent = TaskId(task_id[:index])
                meter = self._tasks.get((parent, self._iteration.get(parent, 0)))
                if meter is not None:
                    yield meter
