"""LocalEngine: runs a workflow in this process with asyncio structured concurrency.

It assembles one run from its parts and hands it to the graph executor
(``engine.executor``)::

    Executor          run lifecycle, scheduler, conditions, success and failure
    ├── AgentNode     agent tasks: routing, grounding, the attempt chain (engine.agent_node)
    │   └── compose_attempt(...)  approvals > fallbacks > retries > slots > circuits >
    │                             deadline > caller  (engine.wrappers)
    └── CompositeNode map, loop, sub-workflow and plan tasks (engine.composite)

Each task starts the moment its joins are met (``engine.scheduler``); every state change is
appended to the store before the engine acts on it (``engine.recorder``).
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence

from pydantic import JsonValue

from podium.budget import Budget
from podium.clock import Clock, SystemClock
from podium.engine.agent_node import AgentNode, TokenListener
from podium.engine.approval import Approvals
from podium.engine.attempt import Caller, call_agent
from podium.engine.breaker import Circuits
from podium.engine.executor import CompositeNode, Executor, Launch, Owner
from podium.engine.fallback import Targets
from podium.engine.guard import Guard
from podium.engine.host import NodeKind
from podium.engine.inputs import resolve_inputs, secret_env_names, workflows_in
from podium.engine.journal import Journal
from podium.engine.kinds import NodeKinds
from podium.engine.limits import Limits
from podium.engine.recorder import Recorder, Subscriber
from podium.engine.run_models import RunModels
from podium.engine.waiter import Waiter
from podium.engine.wrappers import AttemptParts
from podium.errors import RunNotFoundError, RunStateError
from podium.event import Event, RunResumed, RunStarted, TemporalRef
from podium.ids import IdFactory, RunId, UuidIdFactory
from podium.liveness import ensure_not_running, this_host
from podium.models.base import Model
from podium.policy import DEFAULT_RETRY, RetryPolicy
from podium.router import LearningRouter, Router
from podium.run import RunResult, project
from podium.secrets import environment_secrets
from podium.stores.base import Store
from podium.workflow.model import Workflow
from podium.workflow.validate import validate

__all__ = ["LocalEngine", "TokenListener"]


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
        waiter: how runs wait for approvals and signals while they stay alive (an engine
            whose runs are durable passes one, ``engine.waiter``); by default a run that
            waits ends ``waiting`` and ``resume`` continues it.
        temporal: the Temporal workflow the runs execute in, recorded in ``run_started`` so
            that approvals, signals and cancellation go there.
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
        waiter: Waiter | None = None,
        temporal: TemporalRef | None = None,
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
        self.waiter = waiter
        self.temporal = temporal

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
        launch = Launch(
            goal=goal,
            source=source,
            model=self._model_name(),
            budget=budget,
            temporal=self.temporal,
        )
        run = self._assemble(with_budget(workflow, budget))
        return await run.start(values, launch)

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
        run = self._assemble(
            with_budget(workflow, limits),
            run_id=run_id,
            history=events,
            journal=Journal.from_events(events),
        )
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
        run = self._assemble(with_budget(workflow, budget), journal=journal)
        started = events[0]
        inputs = dict(started.inputs) if isinstance(started, RunStarted) else {}
        goal = f"replay of run {run_id}"
        launch = Launch(goal=goal, model=self._model_name(), replay_of=run_id, budget=budget)
        return await run.start(inputs, launch)

    def _model_name(self) -> str | None:
        return self.model if isinstance(self.model, str) else None

    def _assemble(
        self,
        workflow: Workflow,
        *,
        run_id: RunId | None = None,
        history: Sequence[Event] = (),
        journal: Journal | None = None,
    ) -> _Assembled:
        """One run's executor, with its agent node and attempt wrappers.

        Every agent's model is built first, so that a bad model name fails fast.

        Raises:
            ConfigError: an agent names a model that does not exist.
        """
        guard = Guard(workflow, clock=self.clock, history=history)
        recorder = Recorder(
            run_id or self.ids.new_run_id(),
            store=self.store,
            clock=self.clock,
            subscribers=(*self.subscribers, guard.observe, self.router.observe),
            history=history,
            secrets=environment_secrets(secret_env_names(workflow)),
            notes_in_background=self.temporal is None,  # each commit is an activity there
        )
        if self.waiter is not None:
            self.waiter.watch(recorder)
        models = RunModels(workflow, self.model, history)
        targets = Targets(self.retry, Circuits(recorder, self.clock), models.model_choice)
        _resolve_models(workflow, models, targets)
        agents = AgentNode(
            self._attempt_parts(workflow, recorder, journal),
            journal=journal,
            models=models,
            targets=targets,
            router=self.router,
            kinds=self.kinds,
            token_listener=self.token_listener,
        )
        composites = CompositeNode()
        kinds: dict[str, NodeKind] = {"agent": agents}
        kinds.update(dict.fromkeys(("map", "loop", "workflow", "plan", "wait"), composites))
        executor = Executor(
            workflow,
            recorder,
            guard=guard,
            kinds=kinds,
            journal=journal,
            plan=self.kinds.plan,
            owner=Owner(pid=os.getpid(), host=this_host()),
            clock=self.clock,
            store=self.store,
            waiter=self.waiter,
        )
        return _Assembled(executor, models)

    def _attempt_parts(
        self, workflow: Workflow, recorder: Recorder, journal: Journal | None
    ) -> AttemptParts:
        """What the run's attempt wrappers are made of."""
        return AttemptParts(
            caller=self.caller,
            recorder=recorder,
            clock=self.clock,
            rng=random.Random(recorder.run_id),  # jitter, reproducible per run
            limits=Limits(self.max_concurrency or workflow.max_concurrency, self.clock),
            approvals=Approvals(recorder, journal, self.clock, waiter=self.waiter),
        )

    async def _history(self, run_id: RunId, *, allow_succeeded: bool = False) -> list[Event]:
        events = await self.store.read(run_id)
        if not events or not isinstance(events[0], RunStarted):
            raise RunNotFoundError(f"no run {run_id!r} in the store")
        state = project(run_id, events)
        status = state.status
        if not allow_succeeded and self.temporal is None:  # Temporal said its workflow ended
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


def _resolve_models(workflow: Workflow, models: RunModels, targets: Targets) -> None:
    """Build every agent's model (and its fallbacks') before the run starts.

    Raises:
        ConfigError: an agent names a model that does not exist.
    """
    for current in workflows_in(workflow):
        for agent in current.agents:
            models.model_for(agent, current)
            for fallback in targets.fallback_agents(agent, current):
                models.model_for(fallback, current)


class _Assembled:
    """An assembled run: its executor, and the models to close when it ends."""

    def __init__(self, executor: Executor, models: RunModels) -> None:
        self._executor = executor
        self._models = models

    async def start(self, inputs: dict[str, JsonValue], launch: Launch) -> RunResult:
        """Start the run and execute it to the end."""
        try:
            return await self._executor.start(inputs, launch)
        finally:
            await self._models.aclose()

    async def resume(self, *, budget: Budget | None = None) -> RunResult:
        """Resume the run and execute what is left of it."""
        try:
            return await self._executor.resume(budget=budget)
        finally:
            await self._models.aclose()
