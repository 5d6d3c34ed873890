"""LocalEngine: runs a workflow in this process with asyncio structured concurrency.

Each task starts the moment its joins are met (``engine.scheduler``); agent tasks hold a
concurrency slot while they run (``engine.limits``); every state change is appended to the
store before the engine acts on it (``engine.recorder``). Composite tasks (map, loop,
sub-workflow) run their children through the same scheduler (``engine.composite``).

Cancellation (Ctrl-C) cancels every task, appends ``run_completed(cancelled)`` and re-raises;
nothing already written is lost. A bug (an unexpected exception) cancels the run, which is
marked failed, and propagates.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Any

from jinja2 import TemplateError
from pydantic import JsonValue

from podium.agent import Agent
from podium.budget import Budget
from podium.clock import Clock, SystemClock
from podium.context import Context
from podium.engine import composite
from podium.engine.approval import approve_tool, gate
from podium.engine.attempt import AgentAnswer, AgentCall, Caller, call_agent
from podium.engine.breaker import Circuits, call_through, refusal
from podium.engine.composite import graph_nodes
from podium.engine.fallback import attempt_with_fallbacks, fallback_agents
from podium.engine.frame import Frame
from podium.engine.guard import Guard
from podium.engine.host import Target
from podium.engine.inputs import (
    recorded_inputs,
    resolve_inputs,
    secret_env_names,
    secret_values,
    workflows_in,
)
from podium.engine.journal import Journal, Replay
from podium.engine.kinds import NodeKinds
from podium.engine.limits import Limits, Wait
from podium.engine.recorder import Draft, Recorder, Subscriber
from podium.engine.scheduler import Outcome, execute_graph
from podium.errors import (
    AppendConflictError,
    ApprovalRequired,
    CircuitOpenError,
    ConfigError,
    ContextAccessError,
    RoutingError,
    RunNotFoundError,
    RunStateError,
    TaskError,
)
from podium.event import (
    AgentChosen,
    ClaimVerified,
    EndStatus,
    Event,
    RouteChosen,
    RunCompleted,
    RunResumed,
    RunStarted,
    TaskFailed,
    TaskRetried,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
)
from podium.ids import IdFactory, RunId, TaskId, UuidIdFactory
from podium.liveness import conflict_error, ensure_not_running, this_host
from podium.models.base import Model
from podium.models.registry import DEFAULT_MODEL, resolve
from podium.models.scripted import Reply, unused_replies
from podium.models.spec import ModelSpec
from podium.policy import DEFAULT_RETRY, Policy, RetryPolicy
from podium.router import LearningRouter, Router
from podium.run import RunResult, project
from podium.secrets import environment_secrets
from podium.stores.base import Store
from podium.task import Task
from podium.telemetry.logs import bind_run, bind_task
from podium.template import Templates
from podium.workflow.model import Workflow
from podium.workflow.validate import validate

__all__ = ["LocalEngine", "TokenListener"]

TokenListener = Callable[[TaskId, str], None]
"""Receives ``(task id, text)`` as a task's model streams its answer."""

logger = logging.getLogger(__name__)

_FINAL_EVENT_TIMEOUT = 5.0
_UNREGISTERED = (
    "{what} needs the orchestrator's node kinds: run it with podium.run, or give the engine "
    "kinds=podium.orchestrator.KINDS"
)


class LocalEngine:
    """Runs workflows in-process.

    Args:
        store: where the run's events go.
        clock: time source (``ManualClock`` in tests).
        ids: run id factory.
        model: a model (or model name) that replaces every agent's model for these runs.
        max_concurrency: overrides the workflow's global concurrency limit (by default none).
        subscribers: called with each event as it is recorded (the live view).
        token_listener: called with a task's generated text as models stream it.
        retry: how failures are retried where the workflow's ``defaults`` and the agents'
            ``policy`` do not say (by default: three attempts for retryable failures).
        router: picks the agent of a task that names a capability (by default a
            ``LearningRouter`` learning from ``store``); it observes every event recorded.
        kinds: node kinds registered from outside the engine (``plan:`` tasks, grounding
            and verdicts of ``verifies:`` tasks): ``podium.orchestrator.KINDS``.
        caller: the innermost call of every attempt (``podium.engine.attempt.Caller``): by
            default ``call_agent``, in this process; an engine that runs attempts elsewhere
            (a Temporal activity) passes its own. Retries, deadlines, slots, circuits,
            fallbacks and approvals stay around it.
    """

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
        model: str | Model | None = None,
        max_concurrency: int | None = None,
        subscribers: Sequence[Subscriber] = (),
        token_listener: TokenListener | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        router: Router | None = None,
        kinds: NodeKinds | None = None,
        caller: Caller = call_agent,
    ) -> None:
        self.store = store
        self.retry = retry
        self.token_listener = token_listener
        self.clock = clock or SystemClock()
        self.ids = ids or UuidIdFactory()
        self.model = model
        self.max_concurrency = max_concurrency
        self.subscribers = tuple(subscribers)
        self.router = router or LearningRouter(store)
        self.kinds = kinds or NodeKinds()
        self.caller = caller

    async def execute(
        self,
        workflow: Workflow,
        inputs: Mapping[str, JsonValue] | None = None,
        *,
        goal: str | None = None,
        source: str | None = None,
        budget: Budget | None = None,
    ) -> RunResult:
        """Validate ``workflow``, run it to the end and return the result.

        ``source`` is the workflow file, recorded so that ``podium resume`` can load it again.
        ``budget`` tightens the workflow's own for this run (it is recorded, and kept when the
        run is resumed).

        Raises:
            WorkflowValidationError: the workflow is invalid (no run is started).
            ConfigError: an input is unknown or a required one is missing.
        """
        validate(workflow)
        values = resolve_inputs(workflow, inputs or {})
        run = _Run(self, with_budget(workflow, budget))
        run.resolve_models()
        return await run.start(values, goal, source, budget=budget)

    async def resume(
        self, workflow: Workflow, run_id: RunId, *, budget: Budget | None = None
    ) -> RunResult:
        """Continue a run from its log: what completed is kept, the rest runs.

        Tasks that succeeded are not run again; a task that was in flight replays the model
        and tool calls its last attempt completed; failed tasks are attempted again.

        The limits given for the run when it started (or at its latest resume that gave
        some) still apply on top of the workflow's; each limit of ``budget`` replaces the one
        given before, so a run stopped by a limit can go on (it is recorded, and kept by later
        resumes). The workflow's own limits still hold: the lower of each wins.

        Raises:
            RunNotFoundError: there is no such run.
            RunStateError: it already succeeded, or a live process is executing it.
            WorkflowValidationError: the workflow is invalid.
        """
        events = await self._history(run_id)
        validate(workflow)
        limits = _replace_limits(_recorded_budget(events), budget)
        run = _Run(
            self,
            with_budget(workflow, limits),
            run_id=run_id,
            history=events,
            journal=Journal.from_events(events),
        )
        run.resolve_models()
        return await run.resume(budget=limits if budget is not None else None)

    async def replay(self, workflow: Workflow, run_id: RunId) -> RunResult:
        """Run a recorded run again as a new run, feeding every task only from the log.

        No model or tool is called; a task that asks for a call the recorded run did not make
        fails with ``ReplayDivergedError`` saying where.

        Raises:
            ConfigError: there is no such run.
        """
        events = await self._history(run_id, allow_succeeded=True)
        validate(workflow)
        journal = Journal.from_events(events, is_replay=True)
        budget = _recorded_budget(events)
        run = _Run(self, with_budget(workflow, budget), journal=journal)
        run.resolve_models()
        started = events[0]
        inputs = dict(started.inputs) if isinstance(started, RunStarted) else {}
        goal = f"replay of run {run_id}"
        return await run.start(inputs, goal, None, replay_of=run_id, budget=budget)

    async def _history(self, run_id: RunId, *, allow_succeeded: bool = False) -> list[Event]:
        events = await self.store.read(run_id)
        if not events or not isinstance(events[0], RunStarted):
            raise RunNotFoundError(f"no run {run_id!r} in the store")
        state = project(run_id, events)
        status = state.status
        if not allow_succeeded:
            ensure_not_running(state, doing="resume it")
        if status == "succeeded" and not allow_succeeded:
            raise RunStateError(f"run {run_id!r} already succeeded: there is nothing to resume")
        return events


def with_budget(workflow: Workflow, budget: Budget | None) -> Workflow:
    """``workflow`` with its run budget tightened by ``budget``."""
    if budget is None:
        return workflow
    tightened = budget.tighten(workflow.budget)
    return workflow.model_copy(update={"budget": tightened})


def _recorded_budget(events: Sequence[Event]) -> Budget | None:
    """The limits given for a run: those of its latest resume that gave some, else its start's."""
    for event in reversed(events):
        if isinstance(event, RunResumed | RunStarted) and event.budget:
            return Budget.model_validate(event.budget)
    return None


def _replace_limits(recorded: Budget | None, given: Budget | None) -> Budget | None:
    """``recorded`` with each limit ``given`` sets replaced by it."""
    if given is None or recorded is None:
        return given or recorded
    limits = recorded.model_dump(exclude_none=True) | given.model_dump(exclude_none=True)
    return Budget.model_validate(limits)


class _Run:
    """One execution: the recorder, resolved models and limits."""

    def __init__(
        self,
        engine: LocalEngine,
        workflow: Workflow,
        *,
        run_id: RunId | None = None,
        history: Sequence[Event] = (),
        journal: Journal | None = None,
    ) -> None:
        self.engine = engine
        self.workflow = workflow
        self.journal = journal
        self.plans: dict[tuple[int, str], list[tuple[str, Agent, Policy]]] = {}
        """Each agent's fallback plan, by workflow and agent (see ``engine.fallback``)."""
        self.approvals_checked: dict[tuple[TaskId, int], int] = {}
        """How many approval checks each task instance made in this execution."""
        self.guard = Guard(workflow, clock=engine.clock, history=history)
        """Budgets and the loop detector: sees every event, may stop the run."""
        self.recorder = Recorder(
            run_id or engine.ids.new_run_id(),
            store=engine.store,
            clock=engine.clock,
            subscribers=(*engine.subscribers, self.guard.observe, engine.router.observe),
            history=history,
            secrets=environment_secrets(secret_env_names(workflow)),
        )
        self.clock = engine.clock
        self.limits = Limits(engine.max_concurrency or workflow.max_concurrency, engine.clock)
        self._models: dict[str, Model] = {}
        self._rng = random.Random(self.run_id)  # jitter, reproducible per run
        self._canned = _canned(workflow, history)
        self.circuits = Circuits(self.recorder, engine.clock)
        """Circuit breakers per model and agent, for this run only (``engine.breaker``)."""

    @property
    def run_id(self) -> RunId:
        """The run's id."""
        return self.recorder.run_id

    @property
    def retry(self) -> RetryPolicy:
        """How failures are retried where the workflow and the agents do not say."""
        return self.engine.retry

    def resolve_models(self) -> None:
        """Build every agent's model before the run starts, so a bad model name fails fast.

        Raises:
            ConfigError: an agent names a model that does not exist.
        """
        for workflow in workflows_in(self.workflow):
            for agent in workflow.agents:
                self.model_for(agent, workflow)
                for fallback in fallback_agents(self, agent, workflow):
                    self.model_for(fallback, workflow)

    async def start(
        self,
        inputs: dict[str, JsonValue],
        goal: str | None,
        source: str | None,
        *,
        replay_of: RunId | None = None,
        budget: Budget | None = None,
    ) -> RunResult:
        """Record the run's start, write its inputs and run it to the end."""
        with bind_run(self.run_id, self.recorder.secrets):
            self.recorder.secrets.add(*secret_values(self.workflow, inputs))
            model = self.engine.model
            await self.recorder.emit(
                partial(
                    RunStarted,
                    workflow=self.workflow.name,
                    goal=goal,
                    inputs=inputs,
                    graph=graph_nodes(self.workflow.tasks),
                    output_key=self.workflow.output_key,
                    source=source,
                    fingerprint=self.workflow.fingerprint(),
                    pid=os.getpid(),
                    host=this_host(),
                    model=model if isinstance(model, str) else None,
                    replay_of=replay_of,
                    budget=budget.model_dump(mode="json", exclude_none=True) if budget else None,
                )
            )
            context = self.context("", self.workflow)
            return await self._drive(context, inputs)

    async def resume(self, *, budget: Budget | None = None) -> RunResult:
        """Record that the run continues (with ``budget``, its new limits, if given) and run
        what its log does not show as done."""
        with bind_run(self.run_id, self.recorder.secrets):
            inputs = recorded_inputs(self.workflow, self.recorder.events[0])
            self.recorder.secrets.add(*secret_values(self.workflow, inputs))
            resumed = partial(
                RunResumed,
                pid=os.getpid(),
                host=this_host(),
                fingerprint=self.workflow.fingerprint(),
                is_replay=self.journal is not None and self.journal.is_replay,
                budget=budget.model_dump(mode="json", exclude_none=True) if budget else None,
            )
            try:  # two resumes read the log together: the first to append wins
                await self.recorder.emit(resumed)
            except AppendConflictError as exc:
                store = self.engine.store
                raise await conflict_error(store, self.run_id, doing="resume it") from exc
            context = self.context("", self.workflow)
            specs = self.workflow.inputs
            missing = {
                name: value
                for name, value in inputs.items()
                if name not in context or (name in specs and specs[name].is_secret)
            }
            return await self._drive(context, missing)

    def context(self, namespace: str, workflow: Workflow) -> Context:
        """A context for ``workflow``'s keys, holding what the journal recorded in it."""
        context = Context(self.run_id, workflow.context, namespace=namespace)
        for write in self.journal.writes_in(namespace) if self.journal else ():
            context.apply_event(write)
        return context

    async def _drive(self, context: Context, inputs: dict[str, JsonValue]) -> RunResult:
        root = Frame(workflow=self.workflow, context=context)
        try:
            for name, value in inputs.items():
                await self.recorder.write(context, name, value, task_id=None, writer=None)
            graph = partial(self.run_graph, self.workflow.tasks, root)
            outcomes = await self.guard.run(graph, self.recorder)  # None: a budget stopped it
        except asyncio.CancelledError:
            await self._finish("cancelled", error="cancelled by the user")
            raise
        except BaseException as exc:
            await self._finish("failed", error=f"podium bug: {type(exc).__name__}: {exc}")
            raise
        finally:
            await self._close_models()
        failures = [t for t in self.recorder.state.tasks.values() if t.status == "failed"]
        output = context.get(self.workflow.output_key)
        waiting = sorted(self.recorder.state.approvals)
        if self.guard.stop is not None:
            await self._finish("failed", error=self.guard.stop.error, output=output)
        elif waiting:  # not over until a human decides; failed tasks are retried on resume
            error = f"waiting for approval of {', '.join(waiting)}: podium approvals"
            if failures:
                error += "; " + "; ".join(f"task {t.id!r} failed: {t.error}" for t in failures)
            await self._finish("waiting", error=error, output=output)
        elif failures or not outcomes:
            error = "; ".join(f"task {t.id!r} failed: {t.error}" for t in failures)
            await self._finish("failed", error=error or "nothing ran", output=output)
        else:
            await self._finish("succeeded", output=output)
        return self._result(context)

    async def _finish(
        self, status: EndStatus, *, error: str | None = None, output: JsonValue = None
    ) -> None:
        try:
            async with asyncio.timeout(_FINAL_EVENT_TIMEOUT):
                await asyncio.shield(
                    self.recorder.emit(
                        partial(RunCompleted, status=status, output=output, error=error)
                    )
                )
        except (TimeoutError, asyncio.CancelledError):  # pragma: no cover - store hung at exit
            logger.error("run %s: could not record its end (%s)", self.run_id, status)

    async def _close_models(self) -> None:
        """Close the models this run built (HTTP clients); models passed in are the caller's."""
        for model in self._models.values():
            close = getattr(model, "aclose", None)
            if close is not None:
                async with asyncio.timeout(_FINAL_EVENT_TIMEOUT):
                    await close()

    def _result(self, context: Context) -> RunResult:
        state = self.recorder.state
        return RunResult(
            run_id=self.run_id,
            status=state.status,
            output=state.output,
            error=state.error,
            tasks=dict(state.tasks),
            context=context.latest(),
            events=tuple(self.recorder.events),
        )

    async def run_graph(self, tasks: Sequence[Task], frame: Frame) -> dict[TaskId, Outcome]:
        """Run one level of tasks in ``frame``."""

        async def run_task(task: Task) -> Outcome:
            return await self.run_node(task, frame)

        async def skip_task(task: Task, reason: str) -> None:
            await self.recorder.emit(
                partial(
                    TaskSkipped,
                    task_id=frame.qualify(task.id),
                    reason=reason,
                    iteration=frame.iteration,
                )
            )

        cancel_task = partial(composite.record_cancelled, self, frame)
        return await execute_graph(tasks, run_task, skip_task, cancel_task, locks=frame.locks)

    async def run_node(self, task: Task, frame: Frame, task_id: TaskId | None = None) -> Outcome:
        """Run one task of any kind and record how it ended."""
        qid = task_id or frame.qualify(task.id)
        with bind_task(qid):
            done = self.journal.outcome(qid, frame.iteration) if self.journal else None
            if done is not None:
                return done
            if task.when is not None:
                skip = await self._check_condition(task, frame, qid)
                if skip is not None:
                    return skip
            if task.kind == "agent":
                return await self._agent_node(task, frame, qid)
            self.recorder.note(
                partial(TaskStarted, task_id=qid, agent=None, iteration=frame.iteration)
            )
            try:
                return await composite.run_composite(self, task, frame, qid)
            except ApprovalRequired:
                return Outcome(status="waiting", reason="a task inside waits for approval")
            except (TaskError, ContextAccessError, ConfigError, TemplateError) as exc:
                return await self.fail(qid, None, exc, frame)

    async def _check_condition(self, task: Task, frame: Frame, qid: TaskId) -> Outcome | None:
        assert task.when is not None
        try:
            holds = bool(frame.evaluate(task.when))
        except TemplateError as exc:
            return await self.fail(qid, task.agent, exc, frame)
        if holds:
            return None
        reason = f"condition {task.when!r} is false"
        await self.recorder.emit(
            partial(TaskSkipped, task_id=qid, reason=reason, iteration=frame.iteration)
        )
        return Outcome(status="skipped", reason=reason)

    async def _agent_node(self, task: Task, frame: Frame, qid: TaskId) -> Outcome:
        agent = await self._route(task, frame, qid) if task.capability else frame.agent(task)
        if agent is None:
            error = RoutingError(f"no agent has capability {task.capability!r}")
            return await self.fail(qid, None, error, frame)
        settled = await self._settled(task, frame, qid, agent)
        if settled is not None:
            return settled
        listener = self.engine.token_listener
        call = AgentCall(
            task=task,
            task_id=qid,
            agent=agent,
            model=self.model_for(agent, frame.workflow),
            values=frame.values(_names(frame.workflow.templates, agent, task), agent),
            templates=frame.workflow.templates,
            run_id=self.run_id,
            on_token=partial(listener, qid) if listener else None,
            replay=self._replay(qid, frame.iteration, agent),
            iteration=frame.iteration,
            questions=self._questions(task, frame),
        )
        call = replace(call, approve_tool=partial(approve_tool, self, call))
        owner = agent
        try:
            call, answer = await attempt_with_fallbacks(self, call, frame)
            agent = call.agent  # a fallback agent's when the task was rerouted
        except ApprovalRequired:  # a tool call waits for a human; the request is logged
            return Outcome(status="waiting", reason="a tool call waits for approval")
        if not isinstance(answer, Exception):
            answer = await gate(self, call, answer, owner=owner)
        if isinstance(answer, Exception):
            attempt = answer.attempt if isinstance(answer, TaskError) else 1
            return await self.fail(qid, agent.name, answer, frame, attempt=attempt)
        if answer.is_waiting:
            return Outcome(status="waiting", reason="waiting for approval")
        output, journal = answer.output, answer.journal
        if task.verifies is not None:
            try:
                output, claims = self._verdicts(task, frame, qid, output)
            except TaskError as exc:
                await self.recorder.emit_all(journal)
                return await self.fail(qid, agent.name, exc, frame)
            journal = (*journal, *claims)
        outcome = Outcome(status="succeeded", output=output, chosen=answer.chosen)
        if answer.chosen is not None:
            said = answer.output.get("reason") if isinstance(answer.output, dict) else None
            reason = said if isinstance(said, str) else ""
            choice = frame.qualify(answer.chosen)
            route = partial(RouteChosen, task_id=qid, choice=choice, reason=reason)
            journal = (*journal, route)
        return await self.succeed(task, frame, qid, outcome, writer=agent, journal=journal)

    def _questions(self, task: Task, frame: Frame) -> tuple[tuple[int, str], ...]:
        """A verifying task's yes/no questions, one per claim still open (none otherwise)."""
        ask = self.engine.kinds.questions
        return ask(task, frame) if task.verifies is not None and ask is not None else ()

    async def _settled(self, task: Task, frame: Frame, qid: TaskId, agent: Agent) -> Outcome | None:
        """Ground a verifying task's draft; when every claim's verdict is then known without
        a model (``podium.verifier.first_pass``), record them and succeed; else None."""
        if task.verifies is None:
            return None
        ground = self.engine.kinds.ground
        if ground is None:
            error = ConfigError(_UNREGISTERED.format(what="a verifies: task"))
            return await self.fail(qid, agent.name, error, frame)
        settled = await ground(self, task, frame, qid)
        if settled is None:
            return None
        started = partial(TaskStarted, task_id=qid, agent=agent.name, iteration=frame.iteration)
        self.recorder.note(started)
        output, claims = settled
        outcome = Outcome(status="succeeded", output=output)
        return await self.succeed(task, frame, qid, outcome, writer=agent, journal=claims)

    async def _route(self, task: Task, frame: Frame, qid: TaskId) -> Agent | None:
        """The agent the router picks for a capability task, noted as ``agent_chosen``.

        A resumed run keeps the choice its log recorded for this task instance.
        """
        assert task.capability is not None
        candidates = frame.candidates(task)
        by_name = {a.name: a for a in candidates}
        recorded = None
        if self.journal is not None:
            recorded = self.journal.recorded_choice(qid) or self._recorded_choice(qid)
        if recorded is not None and recorded in by_name:
            if self.journal is not None and self.journal.is_replay:  # a new run: log it
                reason = "the agent the recorded run chose"
                self.recorder.note(
                    partial(
                        AgentChosen,
                        task_id=qid,
                        capability=task.capability,
                        agent=recorded,
                        reason=reason,
                    )
                )
            return by_name[recorded]
        if not candidates:
            return None
        choice = await self.engine.router.choose(qid, task.capability, candidates)
        self.recorder.note(
            partial(
                AgentChosen,
                task_id=qid,
                capability=task.capability,
                agent=choice.agent,
                reason=choice.reason,
                scores=choice.scores,
            )
        )
        return by_name[choice.agent]

    def _recorded_choice(self, qid: TaskId) -> str | None:
        """The agent chosen for the unfinished instance of ``qid`` in the log, if any."""
        for event in reversed(self.recorder.events):
            if isinstance(event, AgentChosen) and event.task_id == qid:
                return event.agent
            if isinstance(event, TaskSucceeded | TaskSkipped) and event.task_id == qid:
                return None  # that instance ended; this is a new one (a loop's next iteration)
        return None

    async def attempts(
        self, call: AgentCall, frame: Frame, target: Target
    ) -> AgentAnswer | Exception:
        """Attempt the task on ``target``, retrying failures as its retry policy says.

        A call that the target's circuits refuse is not made and its ``CircuitOpenError`` is
        returned; so is the failure of an attempt after which a circuit opened (no retry waits
        on a dead dependency). Failed attempts that will be retried are recorded
        (``task_failed`` then ``task_retried``); the last failure is returned for the caller.
        """
        tries = 1
        while True:
            result = await self._attempt(call, frame, target)
            if not isinstance(result, TaskError):
                return result
            result.attempt = call.attempt
            if isinstance(result, CircuitOpenError):
                return result
            delay = target.retry.delay(result, tries, self._rng)
            if delay is None or any(c.state == "open" for c in target.circuits):
                return result
            await self.recorder.emit_all(
                [
                    _failed(call.task_id, call.agent.name, result, frame, attempt=call.attempt),
                    partial(
                        TaskRetried,
                        task_id=call.task_id,
                        attempt=call.attempt,
                        delay_s=delay.total_seconds(),
                    ),
                ]
            )
            await self.clock.sleep(delay)
            call = replace(call, attempt=call.attempt + 1)
            tries += 1

    async def _attempt(
        self, call: AgentCall, frame: Frame, target: Target
    ) -> AgentAnswer | Exception:
        """One attempt, holding a concurrency slot; an expected failure is returned.

        The target's circuits are asked once the slot is held, right before the call: a call
        they refuse is not made (``CircuitOpenError``); the outcome of one made is theirs.
        """
        async with AsyncExitStack() as held:
            for limit in frame.slots:  # the sub-workflows' own limits, then the run's
                await held.enter_async_context(limit)
            wait = await held.enter_async_context(self.limits.slot(call.agent))
            refused = refusal(target.circuits, call.task_id)
            if refused is not None:
                return refused
            called = self._call(call, frame, target.timeout, wait)
            return await call_through(target.circuits, called)

    async def _call(
        self, call: AgentCall, frame: Frame, time_limit: timedelta, wait: Wait | None
    ) -> AgentAnswer | Exception:
        """Call the agent within ``time_limit``; an expected failure is returned."""
        self.recorder.note(
            partial(
                TaskStarted,
                task_id=call.task_id,
                agent=call.agent.name,
                attempt=call.attempt,
                iteration=frame.iteration,
                waited_s=wait.seconds if wait else 0.0,
                limit=wait.limit if wait else None,
            )
        )
        try:
            async with asyncio.timeout(time_limit.total_seconds()):
                return await self.engine.caller(call, self.recorder, self.clock)
        except TimeoutError as exc:
            msg = f"timed out after {time_limit}"
            error = TaskError(msg, task_id=call.task_id, retryable=True)
            error.__cause__ = exc  # what marks it a timeout (``policy.failure_kind``)
            return error
        except (TaskError, TemplateError) as exc:
            return exc

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
        """Write a task's output (unless it is a map item) and record its success.

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
            await self.recorder.emit_all([*journal, done])
            return outcome
        try:
            await self.recorder.write(
                frame.context,
                task.output_key,
                outcome.output,
                task_id=qid,
                writer=writer,
                before=journal,
                then=[done],
            )
        except ContextAccessError as exc:
            await self.recorder.emit_all(journal)
            return await self.fail(qid, writer.name if writer else None, exc, frame)
        return outcome

    async def fail(
        self, qid: TaskId, agent: str | None, exc: Exception, frame: Frame, *, attempt: int = 1
    ) -> Outcome:
        """Record a failed task and return its outcome."""
        await self.recorder.emit_all([_failed(qid, agent, exc, frame, attempt=attempt)])
        reason = exc.message if isinstance(exc, TaskError) else str(exc)
        return Outcome(status="failed", reason=reason)

    def call_with(self, call: AgentCall, frame: Frame, agent: Agent) -> AgentCall:
        """``call`` made by ``agent`` instead (a fallback agent, or the agent on another model)."""
        values = frame.values(_names(frame.workflow.templates, agent, call.task), agent)
        model = self.model_for(agent, frame.workflow)
        moved = replace(call, agent=agent, model=model, values=values)
        if agent.name != call.agent.name:  # the fallback's own recorded calls, if any
            moved = replace(moved, replay=self._replay(call.task_id, call.iteration, agent))
        if call.approve_tool is not None:
            moved = replace(moved, approve_tool=partial(approve_tool, self, moved))
        return moved

    def plan(self, task: Task, frame: Frame, qid: TaskId) -> Awaitable[JsonValue]:
        """Run a ``plan:`` task with the plan kind registered with the engine.

        Raises:
            ConfigError: no plan kind is registered.
        """
        run_plan = self.engine.kinds.plan
        if run_plan is None:
            raise ConfigError(_UNREGISTERED.format(what="a plan: task"))
        return run_plan(self, task, frame, qid)

    def _verdicts(
        self, task: Task, frame: Frame, qid: TaskId, output: JsonValue
    ) -> tuple[JsonValue, list[Draft[ClaimVerified]]]:
        verdicts = self.engine.kinds.verdicts
        if verdicts is None:
            raise TaskError(_UNREGISTERED.format(what="a verifies: task"), task_id=qid)
        return verdicts(self, task, frame, qid, output)

    def _replay(self, qid: TaskId, iteration: int, agent: Agent) -> Replay | None:
        return self.journal.replay(qid, iteration, agent=agent.name) if self.journal else None

    def model_choice(self, agent: Agent, workflow: Workflow) -> str | ModelSpec | Model:
        """What names the model an agent uses in this run (the run-wide override wins)."""
        if agent.a2a is not None and agent.model is not None:  # a remote agent answers itself
            return agent.model
        choice = self.engine.model or agent.model or workflow.model or self.workflow.model
        return choice or DEFAULT_MODEL

    def model_for(self, agent: Agent, workflow: Workflow) -> Model:
        """The model an agent uses in this run (the run-wide override wins)."""
        choice = self.model_choice(agent, workflow)
        if not isinstance(choice, str | ModelSpec):
            return choice
        key = choice if isinstance(choice, str) else choice.model_dump_json()
        key = (
            f"{workflow.name}:{key}"
            if isinstance(choice, str) and choice in workflow.models
            else key
        )
        model = self._models.get(key)
        if model is None:
            named = {**self.workflow.models, **workflow.models}
            model = self._models[key] = resolve(choice, named=named, canned=self._canned)
        return model


def _failed(
    qid: TaskId, agent: str | None, exc: Exception, frame: Frame, *, attempt: int
) -> Draft[TaskFailed]:
    """The ``task_failed`` event of a failed attempt."""
    return partial(
        TaskFailed,
        task_id=qid,
        agent=agent,
        error_type=type(exc).__name__,
        message=exc.message if isinstance(exc, TaskError) else str(exc),
        retryable=exc.retryable if isinstance(exc, TaskError) else False,
        attempt=attempt,
        iteration=frame.iteration,
    )


def _names(templates: Templates, agent: Agent, task: Task) -> frozenset[str]:
    names = templates.variables(agent.instructions) | templates.variables(task.instruction)
    if task.grounding is not None:  # the question, and the passages claims are chosen from
        names |= templates.variables(task.grounding.question) | {task.grounding.sources}
    return names


def _canned(workflow: Workflow, history: Sequence[Event]) -> dict[str, list[Reply]]:
    """The workflow's scripted replies, less those the calls in ``history`` already took."""
    canned: dict[str, list[Reply]] = {}
    for current in workflows_in(workflow):
        for key, replies in current.scripted.items():
            canned.setdefault(key, list[Any](replies))
    return unused_replies(canned, history)
