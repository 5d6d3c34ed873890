"""Runs on Temporal: serve a task queue (``serve_worker``), run a workflow file on it
(``run_on_temporal``), cancel a run there (``cancel_on_temporal``), resume one whose workflow
ended without finishing it (``resume_on_temporal``), tell whether runs' workflows still run
(``workflow_states``); and what the facade sends to a run there instead of writing its log:
decisions, signals, cancellation.

Every worker and the process that starts a run share one store (PostgreSQL, by URL), where
the run's event log is written as a local run's is: ``podium runs``, ``show`` and ``metrics``
read it as they read any other run. These functions need the ``temporal`` extra; they import
it only when called.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import JsonValue

from podium.budget import Budget
from podium.context import Context
from podium.engine.approval import Decision
from podium.engine.inputs import resolve_inputs
from podium.errors import RunNotFoundError, RunStateError
from podium.event import (
    ApprovalDenied,
    ApprovalGranted,
    RunStarted,
    SignalReceived,
    TemporalRef,
    recorded_write,
)
from podium.ids import IdFactory, RunId, TaskId, UuidIdFactory
from podium.liveness import WorkflowState
from podium.orchestrator import KINDS
from podium.run import RunResult, project
from podium.stores.argument import StoreArg, opened_store
from podium.stores.base import Store
from podium.workflow.model import Workflow
from podium.workflow.validate import validate
from podium.workflow.yaml import load_workflow

if TYPE_CHECKING:
    from podium.engine.temporal import TemporalTarget

__all__ = [
    "cancel_on_temporal",
    "cancel_workflow_of",
    "decide_on_temporal",
    "resume_on_temporal",
    "run_on_temporal",
    "serve_worker",
    "signal_on_temporal",
    "workflow_states",
]


async def serve_worker(
    temporal: TemporalTarget,
    *,
    store: StoreArg = None,
    max_concurrent_activities: int | None = None,
) -> None:
    """Serve a Temporal task queue until cancelled: run podium workflows and their attempts.

    Args:
        temporal: the Temporal service and task queue to serve.
        store: the store every worker shares (a PostgreSQL URL, or a ``Store``).
        max_concurrent_activities: at most this many attempts and store calls at once.
    """
    from podium.engine.temporal import serve

    async with opened_store(store) as opened:
        await serve(
            temporal, store=opened, kinds=KINDS, max_concurrent_activities=max_concurrent_activities
        )


async def run_on_temporal(
    workflow: str | Path,
    inputs: Mapping[str, JsonValue] | None = None,
    *,
    temporal: TemporalTarget,
    store: StoreArg = None,
    model: str | None = None,
    goal: str | None = None,
    budget: Budget | None = None,
    max_concurrency: int | None = None,
    ids: IdFactory | None = None,
) -> RunResult:
    """Run a workflow file as a Temporal workflow on the workers of ``temporal`` and return
    the result, read from the run's log in ``store`` (the store the workers write to).

    Args:
        workflow: the workflow file; every worker must be able to read it at this path.
        inputs: the workflow's inputs (defaults fill the rest).
        temporal: the Temporal service and task queue.
        store: the store the workers share.
        model: a model name replacing every agent's model for this run.
        goal: the goal the run pursues, as recorded.
        budget: limits for this run on top of the workflow's own.
        max_concurrency: at most this many agent tasks at once.
        ids: run id factory.

    Raises:
        ConfigError: the workflow file is malformed or invalid, or an input is wrong.
        WorkflowValidationError: the workflow is invalid.
    """
    from podium.engine.temporal import RunRequest, execute

    source = _absolute(workflow)
    flow = load_workflow(source)
    validate(flow)
    request = RunRequest(
        run_id=(ids or UuidIdFactory()).new_run_id(),
        source=source,
        fingerprint=flow.fingerprint(),
        inputs=json.dumps(resolve_inputs(flow, inputs or {})),
        goal=goal,
        model=model,
        budget=budget.model_dump_json(exclude_none=True) if budget else None,
        max_concurrency=max_concurrency,
        address=temporal.address,
    )
    async with opened_store(store) as opened:
        await execute(temporal, request)
        return await _result(opened, RunId(request.run_id), flow)


async def resume_on_temporal(
    run_id: RunId, ref: TemporalRef, *, store: StoreArg = None, budget: Budget | None = None
) -> RunResult:
    """Continue a run on Temporal whose workflow ended without finishing it (terminated,
    failed, cancelled): start its workflow again under the same id, going on from the log as
    a local resume does, on the service, namespace and task queue it ran on; wait for the end.
    ``podium.resume`` calls this for a run on Temporal.

    Args:
        run_id: the run.
        ref: its workflow (``run_started`` records it).
        store: the store the workers share.
        budget: new limits for the rest of the run, as for a local resume.

    Raises:
        RunStateError: its workflow still runs, Temporal cannot be reached, or the run
            already succeeded.
        ConfigError: its workflow file is gone, or malformed.
    """
    from podium.engine.temporal import RunRequest, TemporalTarget, execute

    async with opened_store(store) as opened:
        events = await opened.read(run_id)
        started = events[0] if events else None
        if not isinstance(started, RunStarted) or started.source is None:
            raise RunNotFoundError(f"run {run_id} has no workflow file recorded to resume from")
        if project(run_id, events).status == "succeeded":
            raise RunStateError(f"run {run_id} already succeeded: there is nothing to resume")
        await _ensure_workflow_ended(run_id, ref)
        flow = load_workflow(started.source)
        validate(flow)
        request = RunRequest(
            run_id=run_id,
            source=started.source,
            fingerprint=flow.fingerprint(),
            goal=started.goal,
            model=started.model,
            budget=budget.model_dump_json(exclude_none=True) if budget else None,
            address=ref.address,
            is_resumed=True,
        )
        where = TemporalTarget(
            address=ref.address, namespace=ref.namespace, task_queue=ref.task_queue
        )
        await execute(where, request)
        return await _result(opened, run_id, flow)


async def workflow_states(refs: Sequence[TemporalRef]) -> dict[str, WorkflowState]:
    """Whether the workflows of these runs on Temporal still run, by workflow id: a run on
    Temporal is live while its workflow runs, whichever worker carries it.

    ``unknown`` where Temporal cannot be reached (or the ``temporal`` extra is missing):
    ``shown_status`` then shows what the log says, not ``interrupted``.
    """
    if not refs:
        return {}
    try:
        from podium.engine.temporal import workflow_states as ask
    except ImportError:  # pragma: no cover - the extra is installed where tests run
        return {r.workflow_id: "unknown" for r in refs}
    return await ask(refs)


async def _ensure_workflow_ended(run_id: RunId, ref: TemporalRef) -> None:
    """
    Raises:
        RunStateError: the run's workflow still runs, or Temporal cannot say.
    """
    state = (await workflow_states([ref]))[ref.workflow_id]
    if state == "ended":
        return
    if state == "unknown":
        msg = (
            f"run {run_id} runs on Temporal at {ref.address}, which cannot be reached: "
            "it is not resumed while its workflow may still be running"
        )
    else:
        msg = (
            f"run {run_id} is still running on Temporal (workflow {ref.workflow_id} at "
            f"{ref.address}): it waits for approvals and signals itself (podium approve, "
            f"podium signal); `podium cancel {run_id}` stops it"
        )
    raise RunStateError(msg)


async def _result(store: Store, run_id: RunId, flow: Workflow) -> RunResult:
    """The result of a run that ended on Temporal, read from its log."""
    events = await store.read(run_id)
    state = project(run_id, events)
    context = Context(run_id, flow.context)
    for event in events:
        written = recorded_write(event)
        if written is not None and "/" not in written.key:
            context.apply_event(written)
    return RunResult(
        run_id=run_id,
        status=state.status,
        output=state.output,
        error=state.error,
        tasks=dict(state.tasks),
        context=context.latest(),
        events=tuple(events),
    )


async def cancel_on_temporal(run_id: str, *, temporal: TemporalTarget) -> None:
    """Cancel a run on Temporal: its workflow records the run's end as cancelled."""
    from podium.engine.temporal import cancel

    await cancel(temporal, run_id)


async def decide_on_temporal(
    ref: TemporalRef, task_id: TaskId, decision: Decision
) -> ApprovalGranted | ApprovalDenied:
    """Send a decision on a waiting task to its run's Temporal workflow, which records it
    (once) and goes on; ``podium.approve`` and ``podium.deny`` call this for such a run.

    Raises:
        RunStateError: the task is not waiting for approval, or the run is over.
    """
    from podium.engine.temporal import DecisionRequest, decide

    event = await decide(ref, DecisionRequest.of(task_id, decision))
    assert isinstance(event, ApprovalGranted | ApprovalDenied)
    return event


async def signal_on_temporal(
    ref: TemporalRef, name: str, *, data: JsonValue = None, by: str = ""
) -> SignalReceived:
    """Send a signal to a run's Temporal workflow, which records it for its ``wait:`` tasks;
    ``podium.signal`` calls this for such a run.

    Raises:
        RunStateError: the run is over.
    """
    from podium.engine.temporal import SignalRequest, signal

    event = await signal(ref, SignalRequest(name=name, data=json.dumps(data), by=by))
    assert isinstance(event, SignalReceived)
    return event


async def cancel_workflow_of(ref: TemporalRef) -> None:
    """Cancel a run's Temporal workflow; ``podium.cancel`` calls this for such a run.

    Raises:
        RunStateError: the workflow is not running any more.
    """
    from podium.engine.temporal import cancel_workflow

    await cancel_workflow(ref)


def _absolute(path: str | Path) -> str:
    """The absolute path of ``path``: what every worker reads."""
    return os.path.abspath(path)
