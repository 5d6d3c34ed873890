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
from podium.errors import ApprovalDeniedError, ApprovalRequired, RunStateError, ToolError
from podium.event import ApprovalDenied, ApprovalGranted, ApprovalRequested
from podium.ids import RunId, TaskId
from podium.liveness import read_stopped_run
from podium.models.base import ToolCall
from podium.stores.base import Store
from podium.task import Approval, Task
from podium.tool import Tool

__all__ = [
    "ApprovalGate",
    "Approvals",
    "Decision",
    "ToolApprovals",
    "approval_of",
    "needs_approval",
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
    """Whether any of ``agent``'s tools asks for approval before it runs."""
    return any(tool.approval is not None for tool in agent.tools)


class Approvals:
    """The approval requests of one run, output and tool approvals alike.

    A task instance's requests are numbered in the order its attempts make them, so that a
    resumed run finds each one's decision in its journal.

    Args:
        recorder: the run's log, where requests (and timeout decisions) go.
        journal: what the log held when this execution started; None for a new run.
        clock: the time source deadlines are read on.
    """

    def __init__(self, recorder: Recorder, journal: Journal | None, clock: Clock) -> None:
        self._recorder = recorder
        self._journal = journal
        self._clock = clock
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
        asked = self._recorded(call)
        is_new_run = self._journal is not None and self._journal.is_replay
        if asked is None or (is_new_run and asked.answer is None):
            return await self._ask(call, answer, spec)  # a replay is a new run: ask in its log
        decision = asked.answer or await self._timed_out(asked.request, spec)
        if decision is None:
            return replace(answer, is_waiting=True, journal=())  # still waiting: nothing new
        await self._recorder.emit_all(answer.journal)
        if isinstance(decision, ApprovalDenied):
            message = f"denied by {decision.by}: {decision.reason}"
            return ApprovalDeniedError(message, task_id=call.task_id)
        # what was approved is what was proposed (a re-run's fresh answer may differ)
        output = decision.output if decision.is_edited else asked.request.output
        if not call.task.routes:
            return replace(answer, output=output, journal=())
        chosen = _route_in(call.task, output)  # an edit may choose the other route
        if chosen is None:
            routes = ", ".join(call.task.routes)
            message = f"the approved output chooses no route: its 'choice' must be one of {routes}"
            return ApprovalDeniedError(message, task_id=call.task_id)
        return replace(answer, output=output, chosen=chosen, journal=())

    async def approve_tool(self, call: AgentCall, tool: Tool, tool_call: ToolCall) -> None:
        """Let a tool call that needs approval go ahead, or pause or fail the task.

        Raises:
            ApprovalRequired: no decision yet; the request is in the log and the run waits.
            ToolError: the call was denied.
        """
        assert tool.approval is not None
        asked = self._recorded(call)
        if asked is None:
            proposed: JsonValue = {"tool": tool.name, "arguments": tool_call.arguments}
            await self._recorder.emit_all([self._request(call, proposed, tool.approval)])
            raise ApprovalRequired(f"tool {tool.name!r} waits for approval")
        decision = asked.answer or await self._timed_out(asked.request, tool.approval)
        if decision is None:
            raise ApprovalRequired(f"tool {tool.name!r} waits for approval")
        if isinstance(decision, ApprovalDenied):
            message = f"tool {tool.name!r} was denied by {decision.by}: {decision.reason}"
            raise ToolError(message, task_id=call.task_id)

    def _recorded(self, call: AgentCall) -> RecordedApproval | None:
        """The journal's record of this check (the next of the task instance), if any."""
        key = (call.task_id, call.iteration)
        index = self._checked.get(key, 0)
        self._checked[key] = index + 1
        journal = self._journal
        return journal.approval(call.task_id, call.iteration, index) if journal else None

    async def _ask(self, call: AgentCall, answer: AgentAnswer, spec: Approval) -> AgentAnswer:
        request = self._request(call, answer.output, spec)
        await self._recorder.emit_all([*answer.journal, request])
        return replace(answer, is_waiting=True, journal=())

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
        """Attempt ``call`` with its tool approvals going through the run's ``Approvals``."""
        approve = partial(self._approvals.approve_tool, call)
        return await self._inner(replace(call, approve_tool=approve))


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
    pending = state.approvals
    request = pending.get(task_id)
    if request is None:
        waiting = ", ".join(pending) or "none"
        msg = f"task {task_id!r} of run {run_id} is not waiting for approval (waiting: {waiting})"
        raise RunStateError(msg)
    event: ApprovalGranted | ApprovalDenied
    if decision.kind == "approval_granted":
        event = ApprovalGranted(
            seq=events[-1].seq + 1,
            run_id=run_id,
            at=(clock or SystemClock()).now(),
            task_id=task_id,
            by=decision.by,
            iteration=request.iteration,
            comment=decision.comment,
            is_edited=decision.is_edited,
            output=decision.output,
        )
    else:
        event = ApprovalDenied(
            seq=events[-1].seq + 1,
            run_id=run_id,
            at=(clock or SystemClock()).now(),
            task_id=task_id,
            by=decision.by,
            iteration=request.iteration,
            reason=decision.reason,
        )
    await store.append(run_id, [event])
    return event


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
