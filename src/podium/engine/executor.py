"""The graph executor: one run's lifecycle, from ``run_started`` to ``run_completed``.

It starts (or resumes) a run, writes its inputs, runs the workflow's graph through the
scheduler (each task the moment its joins are met), and records how the run ended. Each task
runs through the ``NodeKind`` registered for its kind (``engine.host``): the executor itself
only skips what the journal shows as done and what a ``when:`` rules out, and records a
task's success or failure when its kind says so. It knows no model, router or attempt: the
agent node and its attempt wrappers are registered kinds (``engine.local`` assembles them).

Everything it does goes through what it is given: the recorder (and through it the store),
the clock, the guard. It reads no wall clock and starts no thread, so another engine can run
it where only those are allowed (a Temporal workflow).

Cancellation (Ctrl-C) cancels every task, appends ``run_completed(cancelled)`` and re-raises;
nothing already written is lost. A bug (an unexpected exception) cancels the run, which is
marked failed, and propagates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from jinja2 import TemplateError
from pydantic import JsonValue

from podium.agent import Agent
from podium.budget import Budget
from podium.clock import Clock
from podium.context import Context
from podium.engine import composite
from podium.engine.composite import graph_nodes
from podium.engine.failure import failed_event, message_of
from podium.engine.frame import Frame
from podium.engine.guard import Guard
from podium.engine.host import NodeHost, NodeKind
from podium.engine.inputs import recorded_inputs, secret_values
from podium.engine.journal import Journal
from podium.engine.kinds import UNREGISTERED, RunPlan
from podium.engine.outcome import Outcome
from podium.engine.recorder import Draft, Recorder
from podium.engine.scheduler import execute_graph
from podium.engine.waiter import Waiter
from podium.errors import (
    AppendConflictError,
    ApprovalRequired,
    ConfigError,
    ContextAccessError,
    TaskError,
)
from podium.event import (
    EndStatus,
    Event,
    RunCompleted,
    RunResumed,
    RunStarted,
    SignalAwaited,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
    TemporalRef,
)
from podium.ids import RunId, TaskId
from podium.liveness import conflict_error
from podium.run import RunResult, RunState
from podium.stores.base import Store
from podium.task import Task
from podium.telemetry.logs import bind_run, bind_task
from podium.workflow.model import Workflow

__all__ = ["CompositeNode", "Executor", "Launch", "Owner"]

logger = logging.getLogger(__name__)

_FINAL_EVENT_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Owner:
    """The process that executes a run, as ``run_started``/``run_resumed`` record it (a run
    owned by a live process is not resumed elsewhere: ``podium.liveness``)."""

    pid: int
    host: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Launch:
    """What ``run_started`` records besides the workflow."""

    goal: str | None = None
    source: str | None = None
    """The workflow file, so that ``podium resume`` can load it again."""
    model: str | None = None
    """The run-wide model override, when it is a name."""
    replay_of: RunId | None = None
    budget: Budget | None = None
    """The limits given for this run on top of the workflow's."""
    temporal: TemporalRef | None = None
    """The Temporal workflow executing the run, when one is."""


class Executor:
    """Executes one run of a workflow (a ``NodeHost`` to the kinds it runs).

    Args:
        workflow: the run's workflow (budgets already tightened).
        recorder: the run's single writer.
        guard: budgets and the loop detector (it observes the recorder; it may stop the run).
        kinds: the node kind of each task kind (``Task.kind``).
        journal: what the log held when this execution started; None for a new run.
        plan: what runs a ``plan:`` task (``podium.orchestrator.KINDS.plan``), if any.
        owner: the process executing the run.
        clock: the run's time source.
        store: where ``recorder`` writes (asked who won when two resumes race).
        waiter: how the run waits for answers while it stays alive (``engine.waiter``);
            None: a run that waits for a person or a signal ends ``waiting``.
    """

    def __init__(
        self,
        workflow: Workflow,
        recorder: Recorder,
        *,
        guard: Guard,
        kinds: Mapping[str, NodeKind],
        journal: Journal | None,
        plan: RunPlan | None,
        owner: Owner,
        clock: Clock,
        store: Store,
        waiter: Waiter | None = None,
    ) -> None:
        self.workflow = workflow
        self._waiter = waiter
        self._recorder = recorder
        self._guard = guard
        self._kinds = kinds
        self._journal = journal
        self._plan = plan
        self._owner = owner
        self._clock = clock
        self._store = store

    @property
    def run_id(self) -> RunId:
        """The run's id."""
        return self._recorder.run_id

    @property
    def recorder(self) -> Recorder:
        """The single writer of the run's log."""
        return self._recorder

    @property
    def journal(self) -> Journal | None:
        """What the log held when this execution started (resume, replay); None for a new run."""
        return self._journal

    @property
    def clock(self) -> Clock:
        """The run's time source."""
        return self._clock

    @property
    def waiter(self) -> Waiter | None:
        """How the run waits for answers while it stays alive; None: it ends ``waiting``."""
        return self._waiter

    async def start(self, inputs: dict[str, JsonValue], launch: Launch) -> RunResult:
        """Record the run's start, write its inputs and run it to the end."""
        with bind_run(self.run_id, self._recorder.secrets):
            self._recorder.secrets.add(*secret_values(self.workflow, inputs))
            budget = launch.budget
            await self._recorder.emit(
                partial(
                    RunStarted,
                    workflow=self.workflow.name,
                    goal=launch.goal,
                    inputs=inputs,
                    graph=graph_nodes(self.workflow.tasks),
                    output_key=self.workflow.output_key,
                    source=launch.source,
                    fingerprint=self.workflow.fingerprint(),
                    pid=self._owner.pid,
                    host=self._owner.host,
                    model=launch.model,
                    replay_of=launch.replay_of,
                    budget=budget.model_dump(mode="json", exclude_none=True) if budget else None,
                    temporal=launch.temporal,
                )
            )
            context = self.context("", self.workflow)
            return await self._drive(context, inputs)

    async def resume(self, *, budget: Budget | None = None) -> RunResult:
        """Record that the run continues (with ``budget``, its new limits, if given) and run
        what its log does not show as done."""
        with bind_run(self.run_id, self._recorder.secrets):
            inputs = recorded_inputs(self.workflow, self._recorder.events[0])
            self._recorder.secrets.add(*secret_values(self.workflow, inputs))
            resumed = partial(
                RunResumed,
                pid=self._owner.pid,
                host=self._owner.host,
                fingerprint=self.workflow.fingerprint(),
                is_replay=self._journal is not None and self._journal.is_replay,
                budget=budget.model_dump(mode="json", exclude_none=True) if budget else None,
            )
            try:  # two resumes read the log together: the first to append wins
                await self._recorder.emit(resumed)
            except AppendConflictError as exc:
                raise await conflict_error(self._store, self.run_id, doing="resume it") from exc
            context = self.context("", self.workflow)
            specs = self.workflow.inputs
            missing = {
                name: value
                for name, value in inputs.items()
                if name not in context or (name in specs and specs[name].is_secret)
            }
            return await self._drive(context, missing)

    @property
    def stop_reason(self) -> str:
        """Why the run is stopping: the budget that ran out, else a cancel (Ctrl-C, the
        server stopping, ``podium cancel``)."""
        stop = self._guard.stop
        return f"the run stopped: {stop.reason}" if stop is not None else "the run was cancelled"

    def context(self, namespace: str, workflow: Workflow) -> Context:
        """A context for ``workflow``'s keys, holding what the journal recorded in it."""
        context = Context(self.run_id, workflow.context, namespace=namespace)
        for write in self._journal.writes_in(namespace) if self._journal else ():
            context.apply_event(write)
        return context

    async def _drive(self, context: Context, inputs: dict[str, JsonValue]) -> RunResult:
        root = Frame(workflow=self.workflow, context=context)
        try:
            for name, value in inputs.items():
                await self._recorder.write(context, name, value, task_id=None, writer=None)
            graph = partial(self.run_graph, self.workflow.tasks, root)
            outcomes = await self._guard.run(graph, self._recorder)  # None: a budget stopped it
        except asyncio.CancelledError:
            await self._finish("cancelled", error="cancelled by the user")
            raise
        except BaseException as exc:
            await self._finish("failed", error=f"podium bug: {type(exc).__name__}: {exc}")
            raise
        await self._conclude(context, has_run=bool(outcomes))
        return self._result(context)

    async def _conclude(self, context: Context, *, has_run: bool) -> None:
        """Record how the run ended: stopped by a budget, waiting, failed or succeeded."""
        state = self._recorder.state
        failures = [t for t in state.tasks.values() if t.status == "failed"]
        output = context.get(self.workflow.output_key)
        waiting = _waiting(state, self._recorder.events)
        if self._guard.stop is not None:
            await self._finish("failed", error=self._guard.stop.error, output=output)
        elif waiting:  # not over until a human decides; failed tasks are retried on resume
            error = waiting
            if failures:
                error += "; " + "; ".join(f"task {t.id!r} failed: {t.error}" for t in failures)
            await self._finish("waiting", error=error, output=output)
        elif failures or not has_run:
            error = "; ".join(f"task {t.id!r} failed: {t.error}" for t in failures)
            await self._finish("failed", error=error or "nothing ran", output=output)
        else:
            await self._finish("succeeded", output=output)

    async def _finish(
        self, status: EndStatus, *, error: str | None = None, output: JsonValue = None
    ) -> None:
        try:
            async with asyncio.timeout(_FINAL_EVENT_TIMEOUT):
                await asyncio.shield(
                    self._recorder.emit(
                        partial(RunCompleted, status=status, output=output, error=error)
                    )
                )
        except (TimeoutError, asyncio.CancelledError):  # pragma: no cover - store hung at exit
            logger.error("run %s: could not record its end (%s)", self.run_id, status)

    def _result(self, context: Context) -> RunResult:
        state = self._recorder.state
        return RunResult(
            run_id=self.run_id,
            status=state.status,
            output=state.output,
            error=state.error,
            tasks=dict(state.tasks),
            context=context.latest(),
            events=tuple(self._recorder.events),
        )

    async def run_graph(self, tasks: Sequence[Task], frame: Frame) -> dict[TaskId, Outcome]:
        """Run one level of tasks in ``frame``."""

        def run_task(task: Task) -> Awaitable[Outcome]:  # no coroutine of its own around it
            return self.run_node(task, frame)

        async def skip_task(task: Task, reason: str) -> None:
            await self._recorder.emit(
                partial(
                    TaskSkipped,
                    task_id=frame.qualify(task.id),
                    reason=reason,
                    iteration=frame.iteration,
                )
            )

        cancel_task = partial(composite.record_cancelled, self, frame)
        return await execute_graph(
            tasks,
            run_task,
            skip_task,
            cancel_task,
            locks=frame.locks,
            sleep_until=self._sleep_until,
            interrupt_task=partial(composite.record_interrupted, self, frame),
        )

    async def _sleep_until(self, when: datetime) -> None:
        """Sleep on the run's clock until ``when`` (a waiting task's timeout)."""
        await self._clock.sleep(max(when - self._clock.now(), timedelta(0)))

    async def run_node(self, task: Task, frame: Frame, task_id: TaskId | None = None) -> Outcome:
        """Run one task of any kind and record how it ended."""
        qid = task_id or frame.qualify(task.id)
        with bind_task(qid):
            done = self._journal.outcome(qid, frame.iteration) if self._journal else None
            if done is not None:
                return done
            if task.when is not None:
                skip = await self._check_condition(task, frame, qid)
                if skip is not None:
                    return skip
            kind = self._kinds.get(task.kind)
            if kind is None:
                error = ConfigError(f"no node kind {task.kind!r} is registered with the engine")
                return await self.fail(qid, None, error, frame)
            return await kind.run(self, task, frame, qid)

    async def _check_condition(self, task: Task, frame: Frame, qid: TaskId) -> Outcome | None:
        assert task.when is not None
        try:
            holds = bool(frame.evaluate(task.when))
        except TemplateError as exc:
            return await self.fail(qid, task.agent, exc, frame)
        if holds:
            return None
        reason = f"condition {task.when!r} is false"
        await self._recorder.emit(
            partial(TaskSkipped, task_id=qid, reason=reason, iteration=frame.iteration)
        )
        return Outcome(status="skipped", reason=reason)

    async def succeed(
        self,
        task: Task,
        frame: Frame,
        qid: TaskId,
        outcome: Outcome,
        *,
        writer: Agent | None,
        journal: Sequence[Draft[Event]] = (),
    ) -> Outcome:
        """Write a task's output (unless it is a map item) and record its success, in one
        ``task_succeeded`` that records the write too (``Recorder.write``).

        ``journal`` holds the events of the task's last model call, committed in the same
        transaction as the output: one durable commit per task instead of two.
        """
        done = partial(
            TaskSucceeded,
            task_id=qid,
            agent=writer.name if writer else None,
            output=outcome.output,
            iteration=frame.iteration,
        )
        if not frame.writes_output:
            await self._recorder.emit_all([*journal, done])
            return outcome
        try:
            await self._recorder.write(
                frame.context,
                task.output_key,
                outcome.output,
                task_id=qid,
                writer=writer,
                before=journal,
                done=done,
            )
        except ContextAccessError as exc:
            await self._recorder.emit_all(journal)
            return await self.fail(qid, writer.name if writer else None, exc, frame)
        return outcome

    async def fail(
        self, qid: TaskId, agent: str | None, exc: Exception, frame: Frame, *, attempt: int = 1
    ) -> Outcome:
        """Record a failed task and return its outcome."""
        failed = failed_event(qid, agent, exc, iteration=frame.iteration, attempt=attempt)
        await self._recorder.emit_all([failed])
        return Outcome(status="failed", reason=message_of(exc))

    def plan(self, task: Task, frame: Frame, qid: TaskId) -> Awaitable[JsonValue]:
        """Run a ``plan:`` task with the plan kind registered with the engine.

        Raises:
            ConfigError: no plan kind is registered.
        """
        if self._plan is None:
            raise ConfigError(UNREGISTERED.format(what="a plan: task"))
        return self._plan(self, task, frame, qid)


class CompositeNode:
    """The node kind of map, loop, sub-workflow and plan tasks (``engine.composite``).

    Their children run through the same host; a child that waits for approval makes the
    composite wait, and a failure inside fails it.
    """

    async def run(self, host: NodeHost, task: Task, frame: Frame, qid: TaskId) -> Outcome:
        """Run a composite task and record how it ended."""
        host.recorder.note(partial(TaskStarted, task_id=qid, agent=None, iteration=frame.iteration))
        try:
            return await composite.run_composite(host, task, frame, qid)
        except ApprovalRequired:
            return Outcome(status="waiting", reason="a task inside waits for approval")
        except (TaskError, ContextAccessError, ConfigError, TemplateError) as exc:
            return await host.fail(qid, None, exc, frame)


def _waiting(state: RunState, events: Sequence[Event]) -> str:
    """What the run waits for (approvals, signals), as its error says; empty when nothing."""
    said: list[str] = []
    if state.approvals:
        names = ", ".join(sorted(state.approvals))
        said.append(f"waiting for approval of {names}: podium approvals")
    waiting = {t.id for t in state.tasks.values() if t.status == "waiting"} - set(state.approvals)
    signals = {e.task_id: e.name for e in events if isinstance(e, SignalAwaited)}
    for task_id in sorted(waiting & set(signals)):
        name = signals[task_id]
        said.append(
            f"task {task_id!r} waits for signal {name!r}: podium signal {state.run_id} {name}"
        )
    return "; ".join(said)
