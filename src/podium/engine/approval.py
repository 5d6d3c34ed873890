"""The approval gate: a task whose output needs a human's approval waits for it.

When a task (or its agent) requires approval, its answer is not written. Instead an
``approval_requested`` event records the proposed output and the task is *waiting*: its
dependents do not start, and once nothing else can run the run ends ``waiting``. That is all
the state there is: the request lives in the log, so it survives restarts.

``podium approve`` / ``podium deny`` append the decision to the log and resume the run. The
task then runs again from its journal (its model calls are replayed, not paid for twice),
finds the decision and applies it: an approval writes the output (or the edited one), a denial
fails the task with ``ApprovalDeniedError`` like any other failure. A request whose timeout
has passed gets its configured default decision when the run is next resumed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Literal

from pydantic import JsonValue

from podium.agent import Agent
from podium.clock import Clock, SystemClock
from podium.engine.attempt import AgentAnswer, AgentCall, Attempt
from podium.engine.journal import Journal, RecordedApproval
from podium.engine.recorder import Draft, Recorder
from podium.engine.waiter import Waiter
from podium.errors import ApprovalDeniedError, ApprovalRequired, RunStateError, ToolError
from podium.event import ApprovalDenied, ApprovalGranted, ApprovalRequested
from podium.ids import RunId, TaskId
from podium.liveness import read_stopped_run
from podium.models.base import ToolCall
from podium.run import RunState
from podium.stores.base import Store
from podium.task import Approval, Task
from podium.tool import Tool

__all__ = [
    "ApprovalGate",
    "Approvals",
    "Decision",
    "ToolApprovals",
    "approval_of",
    "decision_draft",
    "needs_approval",
    "pending_request",
    "record_decision",
]

_TIMEOUT_BY = "timeout"


def approval_of(task: Task, agent: Agent) -> Approval | None:
    """The approval a task needs: its own setting, else its agent's; None when none."""
    setting = task.approval if task.approval is not None else agent.approval
    if setting is True:
        return Approval()
    return setting or None


def needs_approval(agent: Agent) -> bool:
    """Whether any of ``agent``'s tools may ask for approval before it runs: one that says
    so, or one of an MCP server not bound here (on Temporal, a worker binds it and says)."""
    return bool(agent.mcp_tools) or any(tool.approval is not None for tool in agent.tools)


class Approvals:
    """The approval requests of one run, output and tool approvals alike.

    A task instance's requests are numbered in the order its attempts make them, so that a
    resumed run finds each one's decision in its journal.

    Args:
        recorder: the run's log, where requests (and timeout decisions) go.
        journal: what the log held when this execution started; None for a new run.
        clock: the time source deadlines are read on.
        waiter: how the run waits for decisions while it stays alive (``engine.waiter``);
            None: a request without a decision leaves the task waiting and the run ends.
    """

    def __init__(
        self,
        recorder: Recorder,
        journal: Journal | None,
        clock: Clock,
        *,
        waiter: Waiter | None = None,
    ) -> None:
        self._recorder = recorder
        self._journal = journal
        self._clock = clock
        self._waiter = waiter
        self._asking: dict[tuple[TaskId, int], tuple[ApprovalRequested, Approval]] = {}
        """Tool approvals just asked for, by task instance (``wait_for_tool_decision``)."""
        self._waited: dict[tuple[TaskId, int], ApprovalGranted | ApprovalDenied] = {}
        """Decisions waited for, for the next ``approve_tool`` of the task instance."""
        self._checked: dict[tuple[TaskId, int], int] = {}
        """How many approval checks each task instance made in this execution."""

    async def gate(
        self, call: AgentCall, answer: AgentAnswer, *, owner: Agent
    ) -> AgentAnswer | ApprovalDeniedError:
        """Let ``answer`` through, hold it for approval, or turn a denial into a failure.

        ``owner`` is the task's own agent: its approval setting holds even when a fallback
        agent (``call.agent``) produced the answer.
        """
        spec = approval_of(call.task, call.agent)
        if spec is None:
            spec = approval_of(call.task, owner)
        if spec is None:
            return answer
        found = await self._decision(call, answer, spec)
        if found is None:
            return replace(answer, is_waiting=True, journal=())  # still waiting: nothing new
        request, decision = found
        if isinstance(decision, ApprovalDenied):
            message = f"denied by {decision.by}: {decision.reason}"
            return ApprovalDeniedError(message, task_id=call.task_id)
        # what was approved is what was proposed (a re-run's fresh answer may differ)
        output = decision.output if decision.is_edited else request.output
        if not call.task.routes:
            return replace(answer, output=output, journal=())
        chosen = _route_in(call.task, output)  # an edit may choose the other route
        if chosen is None:
            routes = ", ".join(call.task.routes)
            message = f"the approved output chooses no route: its 'choice' must be one of {routes}"
            return ApprovalDeniedError(message, task_id=call.task_id)
        return replace(answer, output=output, chosen=chosen, journal=())

    async def _decision(
        self, call: AgentCall, answer: AgentAnswer, spec: Approval
    ) -> tuple[ApprovalRequested, ApprovalGranted | ApprovalDenied] | None:
        """The request of this check and its decision: recorded, defaulted on a timeout, or
        (with a waiter) waited for; None while the run must wait. ``answer``'s journal is in
        the log once this returns a decision."""
        asked = self._recorded(call)
        is_new_run = self._journal is not None and self._journal.is_replay
        if asked is None or (is_new_run and asked.answer is None):
            request = await self._ask(call, answer, spec)  # a replay is a new run: ask in its log
            decision = await self._wait(request, spec)
            return None if decision is None else (request, decision)
        decision = (
            asked.answer
            or await self._timed_out(asked.request, spec)
            or await self._wait(asked.request, spec)
        )
        if decision is None:
            return None
        await self._recorder.emit_all(answer.journal)
        return asked.request, decision

    async def approve_tool(self, call: AgentCall, tool: Tool, tool_call: ToolCall) -> None:
        """Let a tool call that needs approval go ahead, or pause or fail the task.

        Raises:
            ApprovalRequired: no decision yet; the request is in the log and the run waits
                (with a waiter, ``wait_for_tool_decision`` waits for it, then the attempt
                is made again and finds it).
            ToolError: the call was denied.
        """
        assert tool.approval is not None
        decision = self._waited.pop((call.task_id, call.iteration), None)
        if decision is None:
            asked = self._recorded(call)
            if asked is None:
                proposed: JsonValue = {"tool": tool.name, "arguments": tool_call.arguments}
                request = self._request(call, proposed, tool.approval)
                recorded = await self._recorder.emit(request)
                self._asking[call.task_id, call.iteration] = (recorded, tool.approval)
                raise ApprovalRequired(f"tool {tool.name!r} waits for approval")
            decision = asked.answer or await self._timed_out(asked.request, tool.approval)
            if decision is None:  # asked before this execution (a resumed run): wait for it
                self._asking[call.task_id, call.iteration] = (asked.request, tool.approval)
        if decision is None:
            raise ApprovalRequired(f"tool {tool.name!r} waits for approval")
        if isinstance(decision, ApprovalDenied):
            message = f"tool {tool.name!r} was denied by {decision.by}: {decision.reason}"
            raise ToolError(message, task_id=call.task_id)

    async def wait_for_tool_decision(self, call: AgentCall) -> bool:
        """After ``approve_tool`` asked: wait (with a waiter) for the decision, which the next
        ``approve_tool`` of the task instance takes. False: there is no waiter, the run
        waits."""
        asking = self._asking.pop((call.task_id, call.iteration), None)
        if asking is None or self._waiter is None:
            return False
        decision = await self._wait(*asking)
        assert decision is not None  # with a waiter, a deadline's default decides at worst
        self._waited[call.task_id, call.iteration] = decision
        return True

    def _recorded(self, call: AgentCall) -> RecordedApproval | None:
        """The journal's record of this check (the next of the task instance), if any."""
        key = (call.task_id, call.iteration)
        index = self._checked.get(key, 0)
        self._checked[key] = index + 1
        journal = self._journal
        return journal.approval(call.task_id, call.iteration, index) if journal else None

    async def _ask(self, call: AgentCall, answer: AgentAnswer, spec: Approval) -> ApprovalRequested:
        request = self._request(call, answer.output, spec)
        recorded = await self._recorder.emit_all([*answer.journal, request])
        asked = recorded[-1]
        assert isinstance(asked, ApprovalRequested)
        return asked

    async def _wait(
        self, request: ApprovalRequested, spec: Approval
    ) -> ApprovalGranted | ApprovalDenied | None:
        """With a waiter: wait for the decision on ``request`` until its deadline, then take
        the timeout's default. None without a waiter (the run ends waiting)."""
        if self._waiter is None:
            return None
        await self._waiter.wait_until(lambda: self._answer(request) is not None, request.deadline)
        return self._answer(request) or await self._default(request, spec)

    def _answer(self, request: ApprovalRequested) -> ApprovalGranted | ApprovalDenied | None:
        """The decision recorded on ``request`` since it was asked, if one was."""
        pending = self._recorder.state.approvals.get(request.task_id)
        if pending is not None and pending.seq == request.seq:
            return None  # cheap: the wait asks this on every wake-up
        for event in reversed(self._recorder.events):
            if event.seq <= request.seq:
                break
            if (
                isinstance(event, ApprovalGranted | ApprovalDenied)
                and event.task_id == request.task_id
            ):
                return event
        return None

    def _request(
        self, call: AgentCall, proposed: JsonValue, spec: Approval
    ) -> Draft[ApprovalRequested]:
        deadline = self._clock.now() + spec.timeout if spec.timeout is not None else None
        return partial(
            ApprovalRequested,
            task_id=call.task_id,
            agent=call.agent.name,
            output=proposed,
            reason=spec.reason,
            iteration=call.iteration,
            deadline=deadline,
        )

    async def _timed_out(
        self, request: ApprovalRequested, spec: Approval
    ) -> ApprovalGranted | ApprovalDenied | None:
        """Apply the timeout's default decision if the deadline has passed."""
        if request.deadline is None or self._clock.now() < request.deadline:
            return None
        return await self._default(request, spec)

    async def _default(
        self, request: ApprovalRequested, spec: Approval
    ) -> ApprovalGranted | ApprovalDenied:
        """Record the decision the approval's ``on_timeout`` gives."""
        task_id, iteration = request.task_id, request.iteration
        if spec.on_timeout == "approve":
            comment = "approved when the approval timed out"
            granted = partial(
                ApprovalGranted,
                task_id=task_id,
                by=_TIMEOUT_BY,
                iteration=iteration,
                comment=comment,
            )
            return await self._recorder.emit(granted)
        reason = f"no decision before {request.deadline:%Y-%m-%d %H:%M} UTC"
        denied = partial(
            ApprovalDenied, task_id=task_id, by=_TIMEOUT_BY, iteration=iteration, reason=reason
        )
        return await self._recorder.emit(denied)


class ApprovalGate:
    """Attempt wrapper: the answer of a task that needs approval waits for a human.

    Outermost in the chain, around the fallbacks: whichever agent answered, the task's own
    agent's approval setting holds too.
    """

    def __init__(self, inner: Attempt, approvals: Approvals) -> None:
        self._inner = inner
        self._approvals = approvals

    async def __call__(self, call: AgentCall) -> AgentAnswer | Exception:
        """Attempt ``call``; let its answer through, hold it, or fail it if denied."""
        answer = await self._inner(call)
        if isinstance(answer, Exception):
            return answer
        answered = call if answer.agent is None else replace(call, agent=answer.agent)
        gated = await self._approvals.gate(answered, answer, owner=call.agent)
        if isinstance(gated, Exception) and answer.agent is not None:
            gated.agent = answer.agent.name
        return gated


class ToolApprovals:
    """Attempt wrapper: the agent's tools that need approval ask for it before they run."""

    def __init__(self, inner: Attempt, approvals: Approvals) -> None:
        self._inner = inner
        self._approvals = approvals

    async def __call__(self, call: AgentCall) -> AgentAnswer | Exception:
        """Attempt ``call`` with its tool approvals going through the run's ``Approvals``.

        With a waiter the run waits here for a decision, outside the attempt's deadline and
        slots, then attempts again: the calls made before the approval was asked are replayed
        (``Caller``), and the approved tool call is made.
        """
        approve = partial(self._approvals.approve_tool, call)
        while True:
            try:
                return await self._inner(replace(call, approve_tool=approve))
            except ApprovalRequired:
                if not await self._approvals.wait_for_tool_decision(call):
                    raise


def _route_in(task: Task, output: JsonValue) -> TaskId | None:
    """The route an approved router output chooses, if it names one of the task's routes."""
    choice = output.get("choice") if isinstance(output, dict) else None
    return TaskId(choice) if isinstance(choice, str) and choice in task.routes else None


async def record_decision(
    store: Store,
    run_id: RunId,
    task_id: TaskId,
    decision: Decision,
    *,
    clock: Clock | None = None,
) -> ApprovalGranted | ApprovalDenied:
    """Append a human's decision on a waiting task to its run's log.

    Resume the run afterwards (``podium.resume``) to act on it.

    Raises:
        RunNotFoundError: no such run.
        RunStateError: the task is not waiting for approval (decided already?), or a live
            process is executing the run.
    """
    events, state = await read_stopped_run(store, run_id, doing="decide on its approvals")
    request = pending_request(state, task_id)
    draft = decision_draft(decision, request)
    event = draft(seq=events[-1].seq + 1, run_id=run_id, at=(clock or SystemClock()).now())
    await store.append(run_id, [event])
    return event


def pending_request(state: RunState, task_id: TaskId) -> ApprovalRequested:
    """The approval request ``task_id`` waits on in ``state``.

    Raises:
        RunStateError: the task is not waiting for approval (decided already?).
    """
    pending = state.approvals
    request = pending.get(task_id)
    if request is None:
        waiting = ", ".join(pending) or "none"
        run_id = state.run_id
        msg = f"task {task_id!r} of run {run_id} is not waiting for approval (waiting: {waiting})"
        raise RunStateError(msg)
    return request


def decision_draft(
    decision: Decision, request: ApprovalRequested
) -> Draft[ApprovalGranted | ApprovalDenied]:
    """The event that records ``decision`` on ``request``, to be stamped by its writer."""
    if decision.kind == "approval_granted":
        return partial(
            ApprovalGranted,
            task_id=request.task_id,
            by=decision.by,
            iteration=request.iteration,
            comment=decision.comment,
            is_edited=decision.is_edited,
            output=decision.output,
        )
    return partial(
        ApprovalDenied,
        task_id=request.task_id,
        by=decision.by,
        iteration=request.iteration,
        reason=decision.reason,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """A human's answer to an approval request."""

    kind: Literal["approval_granted", "approval_denied"]
    by: str
    comment: str = ""
    reason: str = ""
    is_edited: bool = False
    output: JsonValue = None
    """The edited output, when ``is_edited``."""
