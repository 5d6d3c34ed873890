"""The activities a podium worker runs: store appends and reads, and attempts at agent tasks.

An attempt (``podium.attempt``) makes an agent task's model and tool calls on whichever worker
takes it, with ``call_agent``, the same function the local engine calls. It does not write to
the store: it returns the events of the calls it completed, and the workflow (the run's one
writer) records them. While it runs it heartbeats those events; if its worker dies, Temporal
retries it on another one, which replays the completed calls from the last heartbeat instead
of making them again.

An append (``podium.append``) carries the seq numbers the workflow gave its events, so a
retried append whose first try did reach the store finds the same events there and succeeds:
each event is written once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from jinja2 import TemplateError
from pydantic import TypeAdapter
from temporalio import activity
from temporalio.exceptions import ApplicationError

from podium.agent import Agent
from podium.clock import SystemClock
from podium.engine.attempt import AgentAnswer, AgentCall, call_agent
from podium.engine.inputs import workflows_in
from podium.engine.journal import Replay
from podium.engine.recorder import Recorder
from podium.engine.temporal.wire import (
    AppendRequest,
    AttemptFailure,
    AttemptRequest,
    AttemptResult,
    ReadRequest,
    ToolAsk,
    dump_events,
    load_events,
)
from podium.errors import (
    AppendConflictError,
    ApprovalRequired,
    TaskError,
    ToolError,
)
from podium.event import Event, ModelCalled, ToolCalled
from podium.ids import RunId, TaskId
from podium.models.base import Model, ToolCall
from podium.models.registry import DEFAULT_MODEL, resolve
from podium.models.scripted import Reply, ScriptedModel, unused_replies
from podium.models.spec import ModelSpec
from podium.policy import failure_kind
from podium.run import RunSummary
from podium.stores.base import Store
from podium.task import Task
from podium.tool import Tool
from podium.toolserver import ToolSessions
from podium.workflow.model import Workflow
from podium.workflow.yaml import load_workflow

__all__ = ["Activities"]

logger = logging.getLogger(__name__)

_SUMMARIES = TypeAdapter(list[RunSummary])
_HEARTBEAT_INTERVAL = timedelta(seconds=1)


class Activities:
    """The activities of one worker, over the store it was given.

    Args:
        store: the shared store (PostgreSQL) every worker of the task queue writes to.
        tools: the worker's MCP sessions (None without the ``mcp`` extra).
        worker: the worker's identity, named in errors.
    """

    def __init__(self, store: Store, *, tools: ToolSessions | None, worker: str) -> None:
        self._store = store
        self._tools = tools
        self._worker = worker
        self._workflows: dict[str, tuple[Workflow, dict[str, Workflow]]] = {}
        """Each workflow file read, and its (sub-)workflows by fingerprint."""
        self._models: dict[str, Model] = {}

    def all(self) -> list[Any]:  # Any: activity callables of several signatures
        """The activity callables to register with a worker."""
        return [self.append, self.read, self.list_runs, self.attempt]

    async def aclose(self) -> None:
        """Close the models this worker built (HTTP clients)."""
        for model in self._models.values():
            close = getattr(model, "aclose", None)
            if close is not None:
                await close()
        self._models.clear()

    @activity.defn(name="podium.append")
    async def append(self, request: AppendRequest) -> None:
        """Append events to the run's log; the same events already there are a success.

        Raises:
            ApplicationError: the log holds other events at those seqs (not retried).
        """
        events = load_events(request.events)
        run_id = RunId(request.run_id)
        try:
            await self._store.append(run_id, events)
        except AppendConflictError as exc:
            stored = await self._store.read(run_id, after_seq=events[0].seq - 1)
            if stored[: len(events)] != events:
                raise ApplicationError(str(exc), non_retryable=True) from exc
            logger.info("run %s: seq %d.. already stored (a retried append)", run_id, events[0].seq)

    @activity.defn(name="podium.read")
    async def read(self, request: ReadRequest) -> list[str]:
        """The run's events after ``after_seq``, as JSON text."""
        return dump_events(
            await self._store.read(RunId(request.run_id), after_seq=request.after_seq)
        )

    @activity.defn(name="podium.list_runs")
    async def list_runs(self, since_iso: str) -> str:
        """Summaries of the runs started since ``since_iso`` (what the router learns from)."""
        from datetime import datetime

        summaries = await self._store.list_runs(since=datetime.fromisoformat(since_iso))
        return _SUMMARIES.dump_json(summaries).decode()

    @activity.defn(name="podium.attempt")
    async def attempt(self, request: AttemptRequest) -> AttemptResult:
        """Make one attempt at an agent task; return the events of its completed calls and
        its answer, or its expected failure as a value. It heartbeats throughout, starting
        the MCP servers it needs included (which may take longer than a heartbeat timeout)."""
        done = _heartbeat_events()
        root, flow = self._workflow(request)
        async with _heartbeating(done):
            try:
                agent = await self._with_tools(_agent(flow, request), root, request.source)
            except ToolError as exc:  # a server this worker cannot start
                return AttemptResult(events=dump_events(done), failure=_failure(exc))
            approvals = _ToolDecisions(request.decisions)
            call = AgentCall(
                task=Task.model_validate_json(request.task),
                task_id=TaskId(request.task_id),
                agent=agent,
                model=self._model(request, (root, flow), agent, done),
                values=request.values,
                templates=flow.templates,
                run_id=request.run_id,
                attempt=request.attempt,
                replay=_replay(request, done),
                approve_tool=approvals.approve,
                iteration=request.iteration,
                questions=tuple((i, q) for i, q in request.questions),
            )
            run_id = RunId(request.run_id)
            recorder = Recorder(
                run_id, store=_Heartbeats(done), clock=SystemClock(), notes_in_background=False
            )
            return await _attempt(call, recorder, done, approvals)

    async def _with_tools(self, agent: Agent, root: Workflow, source: str) -> Agent:
        """``agent`` with its MCP tools bound to this worker's sessions of the file's servers.

        Raises:
            ToolError: a server does not start on this worker, or the extra is missing.
        """
        if not agent.mcp_tools:
            return agent
        if self._tools is None:
            servers = ", ".join(sorted({ref.server for ref in agent.mcp_tools}))
            msg = f'MCP servers ({servers}) need the "mcp" extra on worker {self._worker}'
            raise ToolError(f'{msg}: pip install "podium[mcp]"')
        return await self._tools.bind(agent, root.mcp_servers, source=source)

    def _workflow(self, request: AttemptRequest) -> tuple[Workflow, Workflow]:
        """The run's workflow file and the (sub-)workflow of the task, read once per file.

        Raises:
            ApplicationError: the file no longer holds that workflow (not retried).
        """
        found = self._workflows.get(request.source)
        if found is None or request.workflow not in found[1]:
            root = load_workflow(request.source)
            flows = {w.fingerprint(): w for w in workflows_in(root)}
            found = self._workflows[request.source] = (root, flows)
        flow = found[1].get(request.workflow)
        if flow is None:
            msg = f"{request.source} changed since run {request.run_id} started: restore it"
            raise ApplicationError(msg, "ConfigError", non_retryable=True)
        return found[0], flow

    def _model(
        self,
        request: AttemptRequest,
        flows: tuple[Workflow, Workflow],
        agent: Agent,
        done: Sequence[Event],
    ) -> Model:
        """The model the workflow's engine resolved for this call (``LocalEngine.model_for``);
        a scripted one less the replies the task's recorded (or heartbeated) calls took."""
        root, flow = flows
        choice = agent.model if isinstance(agent.model, str | ModelSpec) else None
        if agent.a2a is None or choice is None:
            choice = request.run_model or choice or flow.model or root.model or DEFAULT_MODEL
        named = {**root.models, **flow.models}
        key = choice if isinstance(choice, str) else choice.model_dump_json()
        cached = self._models.get(key)
        if cached is not None:
            return cached
        history = [*load_events(request.history), *done]
        model = resolve(choice, named=named, canned=unused_replies(_scripted(root), history))
        if not isinstance(model, ScriptedModel):  # a scripted model's script is per call
            self._models[key] = model
        return model


@asynccontextmanager
async def _heartbeating(done: list[Event]) -> AsyncGenerator[None]:
    """Heartbeat the events of the calls completed so far, each ``_HEARTBEAT_INTERVAL``,
    until the block ends."""
    stop = asyncio.Event()

    async def beat() -> None:
        while not stop.is_set():
            activity.heartbeat(dump_events(done))
            try:
                async with asyncio.timeout(_HEARTBEAT_INTERVAL.total_seconds()):
                    await stop.wait()
            except TimeoutError:
                continue

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(beat())
        try:
            yield
        finally:
            stop.set()


async def _attempt(
    call: AgentCall, recorder: Recorder, done: list[Event], approvals: _ToolDecisions
) -> AttemptResult:
    """Run ``call_agent``; ``done`` gets the events of the calls it completes."""
    try:
        answer: AgentAnswer | Exception = await call_agent(call, recorder, SystemClock())
    except (TaskError, TemplateError) as exc:
        answer = exc
    except ApprovalRequired:  # the workflow waits for the decision, then asks again
        return AttemptResult(events=dump_events(done), tool_ask=approvals.asked)
    return _result(answer, done, call)


def _result(answer: AgentAnswer | Exception, done: list[Event], call: AgentCall) -> AttemptResult:
    events = dump_events(done)
    if isinstance(answer, Exception):
        return AttemptResult(events=events, failure=_failure(answer))
    at = SystemClock().now()
    journal = [draft(seq=0, run_id=RunId(call.run_id), at=at) for draft in answer.journal]
    return AttemptResult(
        events=events,
        output=json.dumps(answer.output),
        chosen=answer.chosen,
        journal=dump_events(journal),
    )


def _failure(exc: Exception) -> AttemptFailure:
    if not isinstance(exc, TaskError):
        return AttemptFailure(
            error_type=type(exc).__name__, message=str(exc), retryable=False, is_template=True
        )
    return AttemptFailure(
        error_type=type(exc).__name__,
        message=exc.message,
        retryable=exc.retryable,
        retry_after_s=exc.retry_after.total_seconds() if exc.retry_after else None,
        kind=failure_kind(exc),
    )


class _Heartbeats:
    """The store of an attempt's own recorder: keeps the events of the calls it completes
    (heartbeated, then returned to the workflow, which records them in the real store)."""

    def __init__(self, done: list[Event]) -> None:
        self._done = done

    async def append(self, run_id: RunId, events: Sequence[Event]) -> None:
        self._done.extend(events)
        activity.heartbeat(dump_events(self._done))

    async def read(self, run_id: RunId, *, after_seq: int = 0) -> list[Event]:
        return [e for e in self._done if e.seq > after_seq]

    async def list_runs(self, **_: object) -> list[RunSummary]:  # pragma: no cover - unused
        return []

    async def delete_run(self, run_id: RunId, *, if_last_seq: int | None = None) -> bool:
        return False  # pragma: no cover - unused

    async def aclose(self) -> None:
        return None  # pragma: no cover - unused


def _heartbeat_events() -> list[Event]:
    """The events a previous try of this attempt heartbeated before its worker died."""
    details = activity.info().heartbeat_details
    if not details:
        return []
    texts: list[str] = details[0]
    return load_events(texts)


def _replay(request: AttemptRequest, done: Sequence[Event]) -> Replay | None:
    """The calls not to make again: those of the resumed run's log, then this attempt's own
    calls that an earlier try completed."""
    recorded = [
        e for e in (*load_events(request.replay), *done) if isinstance(e, ModelCalled | ToolCalled)
    ]
    if not recorded:
        return None
    return Replay(task_id=TaskId(request.task_id), calls=deque(recorded), is_strict=False)


def _agent(flow: Workflow, request: AttemptRequest) -> Agent:
    agent = flow.agent(request.agent)
    if agent is None:
        raise ApplicationError(
            f"no agent {request.agent!r} in {request.source}", non_retryable=True
        )
    if request.agent_model is None or request.agent_model == agent.model:
        return agent
    model: str | ModelSpec = request.agent_model
    if request.agent_model.startswith("{"):  # a ModelSpec, as JSON
        model = ModelSpec.model_validate_json(request.agent_model)
    return agent.model_copy(update={"model": model})


def _scripted(root: Workflow) -> dict[str, list[Reply]]:
    canned: dict[str, list[Reply]] = {}
    for flow in workflows_in(root):
        for key, replies in flow.scripted.items():
            canned.setdefault(key, list[Any](replies))
    return canned


class _ToolDecisions:
    """An attempt's tool approvals, on a worker: the decisions the workflow sent, in order;
    past them, the attempt stops at the call (the workflow asks a person and waits, which
    an activity must not: it would hold a worker's slot for hours)."""

    def __init__(self, decisions: Sequence[str | None]) -> None:
        self._decisions = list(decisions)
        self._checked = 0
        self.asked: ToolAsk | None = None
        """The tool call the attempt stopped at."""

    async def approve(self, tool: Tool, call: ToolCall) -> None:
        """Let the call go ahead, fail it as denied, or stop the attempt at it.

        Raises:
            ToolError: the call was denied (the message says by whom and why).
            ApprovalRequired: no decision yet: the attempt ends asking for one.
        """
        index, self._checked = self._checked, self._checked + 1
        if index < len(self._decisions):
            denial = self._decisions[index]
            if denial is not None:
                raise ToolError(denial)
            return
        self.asked = ToolAsk(tool=tool.name, call_id=call.id, arguments=json.dumps(call.arguments))
        raise ApprovalRequired(f"tool {tool.name!r} waits for approval")
