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

**Loops.** A *pattern* is what the log records of one call, in one task (qualified task id,
so different tasks and map items never match each other):

- a tool call: agent, tool and arguments;
- a model call: agent, model, token counts and response. The log does not hold the request,
  but without progress a task's prompt renders the same context, and its input token count
  stands for the request.

*Progress* is a ``context_written`` event that gives a key a value it did not hold (a new key
or a changed value); rewriting the same value is not progress, and neither is a resume, which
starts the count afresh. When one pattern is recorded more than ``max_identical_calls`` times
(default 2, so the third stops the run) with no progress in between, the run stops with
``budget_exceeded(limit="loop")`` and the pattern in its reason. Counts are per loop iteration
and add up across iterations, but a task's new attempt (a retry) drops the counts of the
attempt it replaces, so the retry policy, which is bounded on its own, is never cut short.
``engine.attempt`` answers an identical tool call *within* one attempt from its cache without
calling (or logging) the tool; only logged calls count, so the two never fight.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final, TypeVar, assert_never

from pydantic import JsonValue

from podium.budget import Budget
from podium.clock import Clock
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
from podium.task import Task
from podium.workflow.model import Workflow

__all__ = ["MAX_IDENTICAL_CALLS", "Guard", "Stop"]

MAX_IDENTICAL_CALLS: Final = 2
"""How often one call may be recorded without progress; one more stops the run."""

T = TypeVar("T")
_Key = tuple[TaskId, int]
"""A task instance: qualified task id and loop iteration."""
_RUN: Final[_Key] = (TaskId(""), 0)
"""The run's own interval in the run meter."""
_INDEX = re.compile(r"\[\d+\]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop:
    """Why the guard stopped a run: the fields of its ``budget_exceeded`` event."""

    scope: str
    """``run``, ``agent:NAME`` or ``task:ID``."""
    limit: str
    """``tasks``, ``tokens``, ``cost``, ``model_calls``, ``wall_time`` or ``loop``."""
    used: float
    allowed: float
    reason: str

    @property
    def error(self) -> str:
        """The run's error."""
        return f"budget exceeded: {self.reason}"


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
        self._budgets = _Budgets.of(workflow)
        self._has_budgets = bool(workflow.budget or self._budgets.agents or self._budgets.tasks)
        self._run = _Meter("run", "the run", workflow.budget) if workflow.budget else None
        self._agents: dict[str, _Meter] = {}
        self._tasks: dict[_Key, _Meter] = {}
        self._is_timed = bool(workflow.budget and workflow.budget.max_wall_time)
        self._is_timed |= self._budgets.has_timed_tasks
        self._timed: dict[_Meter, None] = {}
        """Meters with a wall-time budget and time running, in the order they started."""
        self._open: dict[_Key, list[_Meter]] = {}
        """The meters timing each running task instance."""
        self._iteration: dict[TaskId, int] = {}
        self._loops = _LoopDetector(max_identical_calls)
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

    def _check(self, meters: Iterable[_Meter]) -> None:
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

    def _meters(self) -> Iterator[_Meter]:
        if self._run is not None:
            yield self._run
        yield from self._agents.values()
        yield from self._tasks.values()

    # -- folding events into meters --------------------------------------------------------------

    def _fold(self, event: Event) -> list[_Meter]:
        """Fold one event in; return the meters it changed."""
        if not self._has_budgets:  # only the loop detector works: it needs the iterations
            if isinstance(event, TaskStarted):
                self._iteration[event.task_id] = event.iteration
            return []
        touched: list[_Meter] = []
        match event:
            case RunStarted() | RunResumed():
                self._close_all(self._last_at or event.at)  # the last execution ended there
                if self._run is not None:
                    self._time(self._run, _RUN, event.at)
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

    def _start(self, event: TaskStarted) -> list[_Meter]:
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

    def _charge(self, event: ModelCalled) -> list[_Meter]:
        key = (event.task_id, self._iteration.get(event.task_id, 0))
        meters = [self._run, self._agent_meter(event.agent), self._tasks.get(key)]
        charged = [m for m in (*meters, *self._ancestors(event.task_id)) if m is not None]
        for meter in charged:
            meter.tokens += event.input_tokens + event.output_tokens
            meter.cost += event.cost
            meter.model_calls += 1
        return charged

    def _end(self, key: _Key, at: datetime) -> list[_Meter]:
        timing = self._open.pop(key, [])
        for meter in timing:
            self._stop_timing(meter, key, at)
        return timing

    def _close_all(self, at: datetime) -> None:
        if self._run is not None:
            self._stop_timing(self._run, _RUN, at)
        for key in list(self._open):
            self._end(key, at)

    def _time(self, meter: _Meter, key: _Key, at: datetime) -> None:
        meter.open(key, at)
        if meter.budget.max_wall_time is not None:
            self._timed[meter] = None

    def _stop_timing(self, meter: _Meter, key: _Key, at: datetime) -> None:
        meter.close(key, at)
        if not meter.running:
            self._timed.pop(meter, None)

    def _agent_meter(self, name: str) -> _Meter | None:
        meter = self._agents.get(name)
        budget = self._budgets.agents.get(name)
        if meter is None and budget is not None:
            meter = self._agents[name] = _Meter(f"agent:{name}", f"agent {name!r}", budget)
        return meter

    def _task_meter(self, key: _Key) -> _Meter | None:
        meter = self._tasks.get(key)
        budget = self._budgets.tasks.get(_INDEX.sub("[]", key[0])) if self._budgets.tasks else None
        if meter is None and budget is not None:
            task_id, iteration = key
            who = f"task {task_id!r}" + (f" (iteration {iteration})" if iteration else "")
            meter = self._tasks[key] = _Meter(f"task:{task_id}", who, budget)
        return meter

    def _ancestors(self, task_id: TaskId) -> Iterator[_Meter]:
        """The meters of the running composite tasks ``task_id`` is inside of."""
        if not self._tasks:
            return
        for index, char in enumerate(task_id):
            if char in "/[":
                parent = TaskId(task_id[:index])
                meter = self._tasks.get((parent, self._iteration.get(parent, 0)))
                if meter is not None:
                    yield meter


@dataclass(slots=True, eq=False)  # compared (and hashed) by identity
class _Meter:
    """What one budget scope has used so far."""

    scope: str
    who: str
    """How the reason names it: ``the run``, ``agent 'writer'``, ``task 'draft'``."""
    budget: Budget
    tokens: int = 0
    cost: float = 0.0
    model_calls: int = 0
    started: set[_Key] = field(default_factory=set[_Key])
    """Agent task instances started in scope."""
    spent: timedelta = timedelta(0)
    """Wall time of the intervals that ended."""
    running: dict[_Key, datetime] = field(default_factory=dict[_Key, datetime])
    """Intervals still going, by task instance (the run's own is ``_RUN``)."""

    def open(self, key: _Key, at: datetime) -> None:
        self.running.setdefault(key, at)

    def close(self, key: _Key, at: datetime) -> None:
        since = self.running.pop(key, None)
        if since is not None:
            self.spent += max(at - since, timedelta(0))

    def wall_time(self, now: datetime) -> timedelta:
        return self.spent + sum((now - since for since in self.running.values()), timedelta(0))

    def deadline(self, now: datetime) -> datetime | None:
        """When the wall-time budget runs out if what runs now keeps running."""
        limit = self.budget.max_wall_time
        if limit is None or not self.running:
            return None
        left = limit - self.wall_time(now)
        return now - (-left // len(self.running))  # rounded up: reached, not just short of it

    def over(self, now: datetime) -> Stop | None:
        """The first limit this scope went over, if any."""
        budget = self.budget
        counted: tuple[tuple[str, float, float | None], ...] = (
            ("tasks", len(self.started), budget.max_tasks),
            ("model_calls", self.model_calls, budget.max_model_calls),
            ("tokens", self.tokens, budget.max_tokens),
            ("cost", self.cost, budget.max_cost),
        )
        for limit, used, allowed in counted:
            if allowed is not None and used > allowed:
                return self._stop(limit, used, allowed)
        if budget.max_wall_time is not None:
            elapsed = self.wall_time(now)
            if elapsed >= budget.max_wall_time:
                allowed_s = budget.max_wall_time.total_seconds()
                return self._stop("wall_time", elapsed.total_seconds(), allowed_s)
        return None

    def _stop(self, limit: str, used: float, allowed: float) -> Stop:
        said = {
            "tasks": f"started {used:,.0f} tasks, over its max_tasks of {allowed:,.0f}",
            "model_calls": f"made {used:,.0f} model calls, over its max_model_calls of "
            f"{allowed:,.0f}",
            "tokens": f"used {used:,.0f} tokens, over its max_tokens of {allowed:,.0f}",
            "cost": f"cost ${used:,.4f}, over its max_cost of ${allowed:,.4f}",
            "wall_time": f"ran for {used:,.1f}s, reaching its max_wall_time of {allowed:,.1f}s",
        }[limit]
        return Stop(scope=self.scope, limit=limit, used=used, allowed=allowed,
                    reason=f"{self.who} {said}")  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class _Budgets:
    """Every budget of a workflow, by where it applies."""

    agents: dict[str, Budget]
    tasks: dict[str, Budget]
    """By task shape: the qualified id with map indexes as ``[]`` (``extract[]/draft``)."""

    @property
    def has_timed_tasks(self) -> bool:
        budgets = (*self.agents.values(), *self.tasks.values())
        return any(b.max_wall_time is not None for b in budgets)

    @classmethod
    def of(cls, workflow: Workflow) -> _Budgets:
        agents: dict[str, Budget] = {}
        tasks: dict[str, Budget] = {}
        _collect(workflow, "", agents, tasks)
        return cls(agents=agents, tasks=tasks)


def _collect(
    workflow: Workflow, prefix: str, agents: dict[str, Budget], tasks: dict[str, Budget]
) -> None:
    """Gather the budgets of ``workflow``'s agents and tasks (shapes under ``prefix``)."""
    for agent in workflow.agents:
        if agent.budget is not None:
            agents[agent.name] = agent.budget.tighten(agents.get(agent.name))
    for task in workflow.tasks:
        _collect_task(task, prefix + task.id, agents, tasks)


def _collect_task(
    task: Task, shape: str, agents: dict[str, Budget], tasks: dict[str, Budget]
) -> None:
    own = task.budget
    if task.workflow is not None and task.workflow.budget is not None:
        own = task.workflow.budget.tighten(own)
    if own is not None:
        tasks[shape] = own
    if task.map is not None:
        _collect_task(task.map.task, f"{shape}[]", agents, tasks)
    if task.loop is not None:
        for child in task.loop.tasks:
            _collect_task(child, f"{shape}/{child.id}", agents, tasks)
    if task.workflow is not None:
        _collect(task.workflow, f"{shape}/", agents, tasks)


@dataclass(slots=True)
class _LoopDetector:
    """Counts identical calls per task since the last progress; see the module docstring."""

    max_identical_calls: int
    counts: dict[TaskId, dict[tuple[object, ...], Counter[int]]] = field(default_factory=dict)
    """Per task, per pattern: how often it was recorded in each loop iteration."""
    values: dict[str, int] = field(default_factory=dict)
    """A hash of each context key's latest value."""

    def observe(self, event: Event, iterations: dict[TaskId, int]) -> Stop | None:
        match event:
            case ContextWritten():
                value = hash(_canonical(event.value))
                if self.values.get(event.key) != value:
                    self.values[event.key] = value
                    self.counts.clear()
            case RunResumed():  # a person chose to go on: count afresh
                self.counts.clear()
            case TaskStarted():  # a new attempt replaces the last one of this instance
                for per_iteration in self.counts.get(event.task_id, {}).values():
                    per_iteration.pop(event.iteration, None)
            case ToolCalled():
                pattern = (event.agent, event.tool, _canonical(event.arguments))
                return self._count(event, pattern, iterations)
            case ModelCalled():
                pattern = (event.agent, event.model, event.input_tokens, event.output_tokens)
                return self._count(event, (*pattern, _canonical(event.response)), iterations)
            case (
                RunStarted()
                | OutputRejected()
                | TaskSucceeded()
                | TaskFailed()
                | TaskRetried()
                | TaskSkipped()
                | RouteChosen()
                | MapExpanded()
                | LoopIterated()
                | RunCompleted()
                | TaskRerouted()
                | CircuitChanged()
                | BudgetExceeded()
                | ApprovalRequested()
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
                | TaskCancelled()
                | SignalReceived()
            ):
                pass
            case _:
                assert_never(event)
        return None

    def _count(
        self,
        call: ToolCalled | ModelCalled,
        pattern: tuple[object, ...],
        iterations: dict[TaskId, int],
    ) -> Stop | None:
        per_iteration = self.counts.setdefault(call.task_id, {}).setdefault(pattern, Counter())
        per_iteration[iterations.get(call.task_id, 0)] += 1
        seen = per_iteration.total()
        if seen <= self.max_identical_calls:
            return None
        reason = f"{seen} times without a new context write (task {call.task_id!r})"
        if isinstance(call, ToolCalled):
            reason = f"{call.agent} called {call.tool}({call.arguments!r}) {reason}"
        else:
            said = f"{call.agent} got the same answer from model {call.model!r}"
            reason = f"{said} to the same request {reason}: {_preview(call.response)}"
        return Stop(
            scope=f"task:{call.task_id}",
            limit="loop",
            used=seen,
            allowed=self.max_identical_calls,
            reason=reason,
        )


def _canonical(value: JsonValue) -> str:
    if isinstance(value, str):  # most outputs: no need to encode
        return value
    text = value.get("text") if isinstance(value, dict) else None
    if isinstance(value, dict) and isinstance(text, str) and not value.get("tool_calls"):
        return text  # a recorded model response without tool calls
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _preview(response: JsonValue) -> str:
    """A short form of a recorded model response for the reason."""
    if isinstance(response, dict):
        text = str(response.get("text") or "")
        calls = response.get("tool_calls") or []
        if not text and isinstance(calls, list) and calls:
            text = f"calls {', '.join(str(c.get('name')) for c in calls if isinstance(c, dict))}"
        response = text
    text = str(response)
    return repr(text if len(text) <= 60 else text[:57] + "...")
