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
from podium.engine.attempt import AgentAnswer, AgentCall
from podium.engine.host import AttemptHost
from podium.engine.recorder import Draft
from podium.errors import ApprovalDeniedError, ApprovalRequired, RunStateError, ToolError
from podium.event import ApprovalDenied, ApprovalGranted, ApprovalRequested
from podium.ids import RunId, TaskId
from podium.liveness import read_stopped_run
from podium.models.base import ToolCall
from podium.stores.base import Store
from podium.task import Approval, Task
from podium.tool import Tool

__all__ = ["Decision", "approval_of", "approve_tool", "gate", "record_decision"]

_TIMEOUT_BY = "timeout"


def approval_of(task: Task, agent: Agent) -> Approval | None:
    """The approval a task needs: its own setting, else its agent's; None when none."""
    setting = task.approval if task.approval is not None else agent.approval
    if setting is True:
        return Approval()
    return setting or None


async def gate(
    run: AttemptHost, call: AgentCall, answer: AgentAnswer, *, owner: Agent | None = None
) -> AgentAnswer | ApprovalDeniedError:
    """Let ``answer`` through, hold it for approval, or turn a denial into a failure.

    ``owner`` is the task's own agent: its approval setting holds even when a fallback agent
    produced the answer.
    """
    spec = approval_of(call.task, call.agent)
    if spec is None and owner is not None:
        spec = approval_of(call.task, owner)
    if spec is None:
        return answer
    key = (call.task_id, call.iteration)
    index = run.approvals_checked.get(key, 0)
    run.approvals_checked[key] = index + 1
    asked = run.journal.approval(call.task_id, call.iteration, index) if run.journal else None
    is_new_run = run.journal is not None and run.journal.is_replay
    if asked is None or (is_new_run and asked.answer is None):
        return await _ask(run, call, answer, spec)  # a replay is a new run: ask in its log
    decision = asked.answer or await _timed_out(run, asked.request, spec)
    if decision is None:
        return replace(answer, is_waiting=True, journal=())  # still waiting: nothing new to log
    await run.recorder.emit_all(answer.journal)
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


def _route_in(task: Task, output: JsonValue) -> TaskId | None:
    """The route an approved router output chooses, if it names one of the task's routes."""
    choice = output.get("choice") if isinstance(output, dict) else None
    return TaskId(choice) if isinstance(choice, str) and choice in task.routes else None


async def approve_tool(run: AttemptHost, call: AgentCall, tool: Tool, tool_call: ToolCall) -> None:
    """Let a tool call that needs approval go ahead, or pause or fail the task.

    Raises:
        ApprovalRequired: no decision yet; the request is in the log and the run will wait.
        ToolError: the call was denied.
    """
    assert tool.approval is not None
    key = (call.task_id, call.iteration)
    index = run.approvals_checked.get(key, 0)
    run.approvals_checked[key] = index + 1
    asked = run.journal.approval(call.task_id, call.iteration, index) if run.journal else None
    if asked is None:
        proposed: JsonValue = {"tool": tool.name, "arguments": tool_call.arguments}
        await _request(run, call, proposed, tool.approval)
        raise ApprovalRequired(f"tool {tool.name!r} waits for approval")
    decision = asked.answer or await _timed_out(run, asked.request, tool.approval)
    if decision is None:
        raise ApprovalRequired(f"tool {tool.name!r} waits for approval")
    if isinstance(decision, ApprovalDenied):
        message = f"tool {tool.name!r} was denied by {decision.by}: {decision.reason}"
        raise ToolError(message, task_id=call.task_id)


async def _request(run: AttemptHost, call: AgentCall, proposed: JsonValue, spec: Approval) -> None:
    await run.recorder.emit_all([_request_draft(run, call, proposed, spec)])


async def _ask(
    run: AttemptHost, call: AgentCall, answer: AgentAnswer, spec: Approval
) -> AgentAnswer:
    request = _request_draft(run, call, answer.output, spec)
    await run.recorder.emit_all([*answer.journal, request])
    return replace(answer, is_waiting=True, journal=())


def _request_draft(
    run: AttemptHost, call: AgentCall, proposed: JsonValue, spec: Approval
) -> Draft[ApprovalRequested]:
    deadline = run.clock.now() + spec.timeout if spec.timeout is not None else None
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
    run: AttemptHost, request: ApprovalRequested, spec: Approval
) -> ApprovalGranted | ApprovalDenied | None:
    """Apply the timeout's default decision if the deadline has passed."""
    if request.deadline is None or run.clock.now() < request.deadline:
        return None
    task_id, iteration = request.task_id, request.iteration
    if spec.on_timeout == "approve":
        comment = "approved when the approval timed out"
        granted = partial(
            ApprovalGranted, task_id=task_id, by=_TIMEOUT_BY, iteration=iteration, comment=comment
        )
        return await run.recorder.emit(granted)
    reason = f"no decision before {request.deadline:%Y-%m-%d %H:%M} UTC"
    denied = partial(
        ApprovalDenied, task_id=task_id, by=_TIMEOUT_BY, iteration=iteration, reason=reason
    )
    return await run.recorder.emit(denied)


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
