"""The ``podium.run`` Temporal workflow: the local engine's executor, run deterministically.

The workflow runs ``LocalEngine`` itself, so the graph logic, the node kinds, retries, limits
and fallbacks are the same code as a local run's; only its seams change:

- the store appends and reads through activities (``podium.append``, ``podium.read``), so the
  event log in the shared store stays the single source of truth;
- the clock is workflow time (``workflow.now()``; a sleep is a durable timer);
- the run id comes with the request, the router's randomness from ``workflow.random()``;
- the innermost call of each attempt (model and tool calls) is the ``podium.attempt``
  activity, which any worker of the task queue runs; the workflow records the events it
  returns.

Cancelling the Temporal workflow cancels the run: the engine records ``run_completed
(cancelled)`` as a local run does on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from jinja2 import TemplateError
from pydantic import BaseModel, JsonValue, TypeAdapter
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

from podium.budget import Budget
from podium.clock import Clock
from podium.engine.attempt import AgentAnswer, AgentCall
from podium.engine.inputs import workflows_in
from podium.engine.kinds import NodeKinds
from podium.engine.local import LocalEngine
from podium.engine.recorder import Draft, Recorder
from podium.engine.temporal.inbox import Inbox
from podium.engine.temporal.wire import (
    AppendRequest,
    AttemptFailure,
    AttemptRequest,
    AttemptResult,
    DecisionRequest,
    ReadRequest,
    RunRequest,
    RunResponse,
    SignalRequest,
    ToolAsk,
    dump_events,
    load_events,
)
from podium.errors import (
    ModelError,
    OutputValidationError,
    PodiumError,
    StoreError,
    TaskError,
    ToolError,
)
from podium.event import Event, ModelCalled, TemporalRef, ToolCalled
from podium.ids import RunId, TaskId
from podium.models.base import ToolCall
from podium.models.spec import ModelSpec
from podium.router import LearningRouter
from podium.run import RunStatus, RunSummary
from podium.task import Approval
from podium.tool import Tool
from podium.workflow.model import Workflow
from podium.workflow.yaml import load_workflow

__all__ = ["DECIDE_UPDATE", "SIGNAL_UPDATE", "WORKFLOW_NAME", "run_workflow"]

WORKFLOW_NAME = "podium.run"
DECIDE_UPDATE = "podium.decide"
SIGNAL_UPDATE = "podium.signal"

_SUMMARIES = TypeAdapter(list[RunSummary])
_STORE_CALL = timedelta(seconds=60)
_ATTEMPT_CALL = timedelta(hours=1)
"""An attempt's own limit is the task's timeout, enforced by the engine in the workflow."""
_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
"""How soon an attempt whose worker died is retried on another."""
_INFRA_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=5))
"""Activities are retried for as long as it takes (a worker or the store was lost); expected
failures of an attempt are values, retried by the engine as the task's policy says."""


def run_workflow(kinds: NodeKinds) -> type:
    """The ``podium.run`` workflow class, running the node kinds ``kinds`` (the orchestrator's).

    Args:
        kinds: the node kinds registered from outside the engine (``podium.orchestrator.KINDS``).

    Returns:
        The workflow class to register with a worker (run without Temporal's sandbox: the
        engine reads time, ids and randomness only through the seams above).
    """

    async def run(self: _Answers, request: RunRequest) -> RunResponse:
        """Run the workflow file of ``request`` to the end."""
        try:
            return await _run(request, kinds, self.inbox)
        except (PodiumError, TemplateError) as exc:  # a bad workflow or input: no retry
            raise ApplicationError(str(exc), type(exc).__name__, non_retryable=True) from exc

    # Temporal refuses classes defined in a function (it names them by their qualified name);
    # the node kinds come from the layer above the engine, so the class is built here.
    run.__qualname__ = "RunWorkflow.run"
    run.__annotations__ = {"request": RunRequest, "return": RunResponse}  # types, not text
    members = {"run": workflow.run(run), "__module__": __name__, "__qualname__": "RunWorkflow"}
    cls = type("RunWorkflow", (_Answers,), members)
    return workflow.defn(name=WORKFLOW_NAME, sandboxed=False)(cls)


class _Answers:
    """The updates that answer a run from outside: approval decisions and signals."""

    def __init__(self) -> None:
        self.inbox = Inbox()

    @workflow.update(name=DECIDE_UPDATE)
    async def decide(self, request: DecisionRequest) -> str:
        """Record a decision on a waiting task; return the event, as JSON."""
        return await self.inbox.decide(request)

    @decide.validator
    def check_decision(self, request: DecisionRequest) -> None:
        """Reject a decision on a task that does not wait for one."""
        self.inbox.check_decision(request)

    @workflow.update(name=SIGNAL_UPDATE)
    async def signal(self, request: SignalRequest) -> str:
        """Record a signal for the run's ``wait:`` tasks; return the event, as JSON."""
        return await self.inbox.signal(request)

    @signal.validator
    def check_signal(self, request: SignalRequest) -> None:
        """Reject a signal to a run that is over."""
        self.inbox.check_signal(request)


async def _run(request: RunRequest, kinds: NodeKinds, inbox: Inbox) -> RunResponse:
    flow = _workflow(request)
    store = ActivityStore()
    clock = WorkflowClock()
    info = workflow.info()
    where = TemporalRef(
        address=request.address,
        namespace=info.namespace,
        task_queue=info.task_queue,
        workflow_id=info.workflow_id,
    )
    engine = LocalEngine(
        store=store,
        clock=clock,
        ids=_RunIdOf(RunId(request.run_id)),
        model=request.model,
        max_concurrency=request.max_concurrency,
        router=LearningRouter(store, rng=workflow.random(), clock=clock),
        kinds=kinds,
        caller=_Attempts(request, flow).call,
        waiter=inbox,
        temporal=where,
    )
    budget = Budget.model_validate_json(request.budget) if request.budget else None
    if request.is_resumed:
        result = await engine.resume(flow, RunId(request.run_id), budget=budget)
    else:
        inputs: dict[str, JsonValue] = json.loads(request.inputs)
        result = await engine.execute(
            flow, inputs, goal=request.goal, source=request.source, budget=budget
        )
    output = json.dumps(result.output)
    return RunResponse(status=result.status, output=output, error=result.error)


def _workflow(request: RunRequest) -> Workflow:
    """The run's workflow, read from its file: the same one the run started with.

    Raises:
        ApplicationError: the file changed since (a replay would diverge); not retried.
    """
    flow = load_workflow(request.source)
    if flow.fingerprint() != request.fingerprint:
        msg = f"{request.source} changed since run {request.run_id} started: restore it"
        raise ApplicationError(msg, "ConfigError", non_retryable=True)
    return flow


class WorkflowClock:
    """Workflow time: deterministic when the workflow is replayed; a sleep is a durable timer."""

    def now(self) -> datetime:
        """The workflow's current time (UTC)."""
        return workflow.now()

    def monotonic(self) -> float:
        """Seconds of workflow time."""
        return workflow.time()

    async def sleep(self, delay: timedelta) -> None:
        """A durable timer of ``delay``."""
        await workflow.sleep(delay)


class _RunIdOf:
    """The run id the client chose (it names the Temporal workflow too)."""

    def __init__(self, run_id: RunId) -> None:
        self._run_id = run_id

    def new_run_id(self) -> RunId:
        return self._run_id


class ActivityStore:
    """The store as the workflow sees it: each append and read is an activity on a worker."""

    async def append(self, run_id: RunId, events: Sequence[Event]) -> None:
        """Append through ``podium.append`` (idempotent by seq)."""
        request = AppendRequest(run_id=run_id, events=dump_events(events))
        with _cancellation():
            await workflow.execute_activity(
                "podium.append",
                request,
                start_to_close_timeout=_STORE_CALL,
                retry_policy=_INFRA_RETRY,
            )

    async def read(self, run_id: RunId, *, after_seq: int = 0) -> list[Event]:
        """Read through ``podium.read``."""
        texts: list[str] = await workflow.execute_activity(
            "podium.read",
            ReadRequest(run_id=run_id, after_seq=after_seq),
            result_type=list[str],
            start_to_close_timeout=_STORE_CALL,
            retry_policy=_INFRA_RETRY,
        )
        return load_events(texts)

    async def list_runs(
        self,
        *,
        limit: int = 50,
        prefix: str = "",
        since: datetime | None = None,
        before: datetime | None = None,
        status: RunStatus | None = None,
    ) -> list[RunSummary]:
        """The runs started since ``since`` (what the router asks for)."""
        start = since or datetime.fromtimestamp(0, tz=workflow.now().tzinfo)
        text: str = await workflow.execute_activity(
            "podium.list_runs",
            start.isoformat(),
            result_type=str,
            start_to_close_timeout=_STORE_CALL,
            retry_policy=_INFRA_RETRY,
        )
        return _SUMMARIES.validate_json(text)[:limit]

    async def delete_run(self, run_id: RunId, *, if_last_seq: int | None = None) -> bool:
        """Not done from a workflow.

        Raises:
            StoreError: always.
        """
        raise StoreError("a run's log is not deleted from inside a Temporal workflow")

    async def aclose(self) -> None:
        """Nothing to release: the workers own the store."""


class _Attempts:
    """The engine's innermost call: each attempt is a ``podium.attempt`` activity."""

    def __init__(self, request: RunRequest, root: Workflow) -> None:
        self._request = request
        self._fingerprints = {id(w.templates): w.fingerprint() for w in workflows_in(root)}
        """Each (sub-)workflow's fingerprint, by its templates (which a call carries)."""
        self._asked: dict[tuple[TaskId, int], _Asked] = {}
        """Attempts waiting for a tool approval, by task instance."""

    async def call(self, call: AgentCall, recorder: Recorder, clock: Clock) -> AgentAnswer:
        """Make the attempt on a worker and record the events of the calls it completed.

        An attempt that stops at a tool call needing approval hands the call to the run's
        approvals (``call.approve_tool``), then is made again with the decision, replaying
        the calls it made before: the approved tool runs, a denied one fails the attempt.

        Raises:
            TaskError: the attempt failed (as the worker reported it).
            TemplateError: a template of the task or agent failed to render.
            ApprovalRequired: a tool call waits for a decision (the approvals wait for it,
                then call again: what the attempt did is kept meanwhile).
        """
        key = (call.task_id, call.iteration)
        asked = self._asked.pop(key, None) or _Asked()
        while True:
            if asked.ask is not None:
                self._asked[key] = asked
                await _decide_tool(call, asked)
                del self._asked[key]
            result = await self._attempt(call, recorder.events, asked)
            done = load_events(result.events)
            await recorder.emit_all([_restamped(e) for e in done])
            asked.calls.extend(e for e in done if isinstance(e, ModelCalled | ToolCalled))
            if result.tool_ask is None:
                break
            asked.ask = result.tool_ask
        if result.failure is not None:
            raise _error(result.failure, call)
        return AgentAnswer(
            output=json.loads(result.output),
            chosen=TaskId(result.chosen) if result.chosen is not None else None,
            journal=tuple(_restamped(e) for e in load_events(result.journal)),
        )

    async def _attempt(self, call: AgentCall, log: Sequence[Event], asked: _Asked) -> AttemptResult:
        with _cancellation():
            return await workflow.execute_activity(
                "podium.attempt",
                self._attempt_request(call, log, asked),
                result_type=AttemptResult,
                start_to_close_timeout=_ATTEMPT_CALL,
                heartbeat_timeout=_HEARTBEAT_TIMEOUT,
                retry_policy=_INFRA_RETRY,
            )

    def _attempt_request(
        self, call: AgentCall, log: Sequence[Event], asked: _Asked
    ) -> AttemptRequest:
        model = call.agent.model
        history = [e for e in log if getattr(e, "task_id", None) == call.task_id]
        return AttemptRequest(
            run_id=call.run_id,
            source=self._request.source,
            workflow=self._fingerprints[id(call.templates)],
            task=call.task.model_dump_json(),
            task_id=call.task_id,
            agent=call.agent.name,
            agent_model=model if isinstance(model, str) or model is None else _spec(model),
            run_model=self._request.model,
            values=_json_ready(call.values),
            attempt=call.attempt,
            iteration=call.iteration,
            questions=list(call.questions),
            history=dump_events(history),
            replay=dump_events([*(call.replay.calls if call.replay else ()), *asked.calls]),
            decisions=list(asked.decisions),
        )


@dataclass(slots=True)
class _Asked:
    """What an attempt stopped at a tool approval did: it is made again with the decision."""

    calls: list[ModelCalled | ToolCalled] = field(default_factory=list[ModelCalled | ToolCalled])
    """The calls it completed, replayed by the next try instead of made again."""
    decisions: list[str | None] = field(default_factory=list[str | None])
    """The decision on the tool call it stopped at (``AttemptRequest.decisions``)."""
    ask: ToolAsk | None = None
    """The tool call it stopped at, until decided."""


async def _decide_tool(call: AgentCall, asked: _Asked) -> None:
    """Have the run's approvals decide on the tool call the attempt stopped at.

    Raises:
        ApprovalRequired: no decision yet (the request is in the log).
    """
    ask = asked.ask
    assert ask is not None
    tool = call.agent.tool_named(ask.tool) or _served_tool(call, ask)
    assert call.approve_tool is not None  # the worker asked: the chain has ToolApprovals
    arguments: dict[str, JsonValue] = json.loads(ask.arguments)
    try:
        await call.approve_tool(tool, ToolCall(id=ask.call_id, name=ask.tool, arguments=arguments))
    except ToolError as exc:
        asked.decisions = [exc.message]
    else:
        # only this call's: the calls approved before have run, and their results are replayed
        asked.decisions = [None]
    asked.ask = None


def _served_tool(call: AgentCall, ask: ToolAsk) -> Tool:
    """The MCP tool an attempt stopped at, as the approvals see it: its server's tools are
    bound on the worker only, where each one its spec's ``approval`` names asks for the
    default ``Approval()``, as on the local engine (``podium.protocols.mcp.client``)."""
    assert call.agent.mcp_tools  # the worker asked: the tool is one of an MCP server's

    def called_on_the_worker(arguments: object) -> None:  # pragma: no cover - never called
        raise AssertionError(f"MCP tool {ask.tool!r} runs on a worker, not in the workflow")

    return Tool(
        name=ask.tool,
        description=ask.tool,
        function=called_on_the_worker,
        arguments=BaseModel,
        approval=Approval(),
    )


def _spec(model: object) -> str | None:
    """A ``ModelSpec`` as JSON (a model object built in Python cannot travel: None)."""
    return model.model_dump_json() if isinstance(model, ModelSpec) else None


@contextmanager
def _cancellation() -> Generator[None]:
    """An activity cancelled with the run (the workflow was cancelled) as the engine expects
    a cancelled call to end: ``asyncio.CancelledError``, so the run records its end as
    cancelled and every task stops."""
    try:
        yield
    except ActivityError as exc:
        if isinstance(exc.cause, CancelledError):
            raise asyncio.CancelledError from exc
        raise


def _restamped(event: Event) -> Draft[Event]:
    """``event`` renumbered by the workflow's recorder; it keeps the time it happened."""

    def draft(*, seq: int, run_id: RunId, at: datetime) -> Event:
        return replace(event, seq=seq, run_id=run_id)

    return draft


def _json_ready(values: Mapping[str, Any]) -> dict[str, Any]:  # Any: template values
    """Template values as JSON: a value that is not (the ``context`` text) becomes its text."""
    ready: dict[str, Any] = {}  # Any: template values
    for name, value in values.items():
        try:
            json.dumps(value)
        except TypeError:
            value = str(value)
        ready[name] = value
    return ready


_CAUSES: dict[str, Callable[[str], BaseException]] = {
    "server": ConnectionError,
    "timeout": TimeoutError,
}
"""The cause that marks a tool's failure of this kind (``policy.failure_kind``)."""


def _error(failure: AttemptFailure, call: AgentCall) -> Exception:
    """The exception the worker's attempt ended with, rebuilt for the engine's policies."""
    if failure.is_template:
        return TemplateError(failure.message)
    retry_after = timedelta(seconds=failure.retry_after_s) if failure.retry_after_s else None
    common: dict[str, Any] = {"task_id": call.task_id, "retry_after": retry_after}  # Any: kwargs
    match failure.error_type:
        case "ModelError":
            kind: Any = failure.kind or "other"  # Any: a ModelErrorKind from the wire
            return ModelError(failure.message, kind=kind, retryable=failure.retryable, **common)
        case "ToolError":
            error = ToolError(failure.message, retryable=failure.retryable, **common)
            cause = _CAUSES.get(failure.kind or "")
            error.__cause__ = None if cause is None else cause(failure.message)
            return error
        case "OutputValidationError":
            return OutputValidationError(failure.message, **common)
        case _:
            return TaskError(failure.message, retryable=failure.retryable, **common)
