"""What a person adds to a recorded run: approving or denying a waiting task, a signal,
and feedback.

These are public functions of the facade (``podium.approve``, ``podium.deny``,
``podium.signal``, ``podium.feedback``). Each appends one event to the run's log and returns
it; none executes the run. After a decision, ``podium.resume`` continues the run so the
approved output is written (or the denied task fails, or the waiting task takes its signal).
A run that a live process is executing is refused: its process numbers its own events.

A run on the Temporal engine is alive while it waits: a decision or a signal goes to its
workflow as an update, the workflow records it in the log (once) and goes on; no resume.
"""

from __future__ import annotations

from pydantic import JsonValue

from podium.distributed import decide_on_temporal, signal_on_temporal
from podium.engine.approval import Decision, record_decision
from podium.engine.wait import record_signal
from podium.event import ApprovalDenied, ApprovalGranted, FeedbackRecorded, SignalReceived
from podium.feedback import check_score, record_feedback
from podium.history import resolve_run_id
from podium.ids import TaskId
from podium.liveness import temporal_ref
from podium.stores.argument import StoreArg, opened_store

__all__ = ["approve", "deny", "feedback", "signal"]


async def approve(
    run_id: str,
    task_id: str,
    *,
    output: JsonValue = None,
    comment: str = "",
    by: str = "",
    store: StoreArg = None,
) -> ApprovalGranted:
    """Approve a task that waits for a person's approval (``podium approvals`` lists them).

    Args:
        run_id: the run's id, or enough of its first characters to name one run.
        task_id: the waiting task (``RunState.approvals`` holds the requests).
        output: an edited output to write instead of the proposed one; None approves the
            proposed output as it is.
        comment: a note kept with the approval.
        by: who approves.
        store: a ``Store``, a SQLite file path, or None for ``default_store_path()``.

    Returns:
        The ``approval_granted`` event appended to the run's log (for a run on Temporal, by
        its workflow, which goes on at once).

    Raises:
        ConfigError: no such run, the task is not waiting for approval, or a live process
            is executing the run.
        StoreError: the store cannot be read or written.
    """
    decision = Decision(
        kind="approval_granted",
        by=by,
        comment=comment,
        is_edited=output is not None,
        output=output,
    )
    granted = await _decide(run_id, task_id, decision, store)
    assert isinstance(granted, ApprovalGranted)
    return granted


async def deny(
    run_id: str, task_id: str, *, reason: str, by: str = "", store: StoreArg = None
) -> ApprovalDenied:
    """Deny a task that waits for approval; when the run resumes the task fails with ``reason``.

    A denied plan (a ``plan:`` task's ``plan/<planner>`` request) is planned again with the
    reason instead, a bounded number of times.

    Args:
        run_id: the run's id, or enough of its first characters to name one run.
        task_id: the waiting task.
        reason: why; shown in the task's error and to a planner re-planning.
        by: who denies.
        store: a ``Store``, a SQLite file path, or None for ``default_store_path()``.

    Returns:
        The ``approval_denied`` event appended to the run's log (for a run on Temporal, by
        its workflow, which goes on at once).

    Raises:
        ConfigError: no such run, the task is not waiting for approval, or a live process
            is executing the run.
        StoreError: the store cannot be read or written.
    """
    decision = Decision(kind="approval_denied", by=by, reason=reason)
    denied = await _decide(run_id, task_id, decision, store)
    assert isinstance(denied, ApprovalDenied)
    return denied


async def _decide(
    run_id: str, task_id: str, decision: Decision, store: StoreArg
) -> ApprovalGranted | ApprovalDenied:
    async with opened_store(store) as opened:
        resolved = await resolve_run_id(opened, run_id)
        ref = await temporal_ref(opened, resolved)
        if ref is not None:
            return await decide_on_temporal(ref, TaskId(task_id), decision)
        return await record_decision(opened, resolved, TaskId(task_id), decision)


async def signal(
    run_id: str, name: str, *, data: JsonValue = None, by: str = "", store: StoreArg = None
) -> SignalReceived:
    """Send the signal ``name`` to a run: its ``wait: {signal: name}`` tasks take it.

    The signal is kept in the run's log, so a task that only begins to wait later takes it
    too. Resume the run afterwards (``podium.resume``) so that it goes on.

    Args:
        run_id: the run's id, or enough of its first characters to name one run.
        name: the signal's name, as the workflow's ``signals`` declare it.
        data: its payload, the output of the task that takes it.
        by: who (or what system) sends it.
        store: a ``Store``, a SQLite file path, or None for ``default_store_path()``.

    Returns:
        The ``signal_received`` event appended to the run's log (for a run on Temporal, by
        its workflow, which goes on at once).

    Raises:
        ConfigError: no such run, it already succeeded, or a live process is executing it.
        StoreError: the store cannot be read or written.
    """
    async with opened_store(store) as opened:
        resolved = await resolve_run_id(opened, run_id)
        ref = await temporal_ref(opened, resolved)
        if ref is not None:
            return await signal_on_temporal(ref, name, data=data, by=by)
        return await record_signal(opened, resolved, name, data=data, by=by)


async def feedback(
    run_id: str,
    score: int,
    *,
    task_id: str | None = None,
    comment: str = "",
    by: str = "",
    store: StoreArg = None,
) -> FeedbackRecorded:
    """Rate a run, or one task of it, from 1 (bad) to 5 (excellent).

    ``podium.metrics`` averages the ratings into user satisfaction, and the learning router
    learns from them.

    Args:
        run_id: the run's id, or enough of its first characters to name one run.
        score: 1 to 5.
        task_id: the task rated, when the rating is about one task rather than the run.
        comment: why, in the rater's words.
        by: who rates.
        store: a ``Store``, a SQLite file path, or None for ``default_store_path()``.

    Returns:
        The ``feedback_recorded`` event appended to the run's log.

    Raises:
        ConfigError: the score is not 1 to 5, no such run or task, or a live process is
            executing the run.
        StoreError: the store cannot be read or written.
    """
    check_score(score)
    async with opened_store(store) as opened:
        resolved = await resolve_run_id(opened, run_id)
        task = TaskId(task_id) if task_id is not None else None
        return await record_feedback(opened, resolved, score, task_id=task, comment=comment, by=by)
