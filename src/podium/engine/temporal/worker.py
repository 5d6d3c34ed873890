"""Serving a task queue (``serve``) and running a workflow file on it (``execute``, ``cancel``).

A worker runs both halves of the engine: the ``podium.run`` workflow (the executor) and the
activities (store appends and reads, attempts at agent tasks). Any number of workers may
serve one task queue; Temporal spreads attempts over them and moves a run whose worker died
to another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, CancelledError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from podium.engine.kinds import NodeKinds
from podium.engine.temporal.activities import Activities
from podium.engine.temporal.wire import DecisionRequest, RunRequest, RunResponse, SignalRequest
from podium.engine.temporal.workflow import (
    DECIDE_UPDATE,
    SIGNAL_UPDATE,
    WORKFLOW_NAME,
    run_workflow,
)
from podium.errors import ConfigError, RunStateError
from podium.event import Event, TemporalRef, load_event
from podium.liveness import WorkflowState
from podium.stores.base import Store
from podium.toolserver import worker_tool_sessions

_ASK_TIMEOUT = timedelta(seconds=5)
"""How long Temporal has to say whether the workflows at one address still run."""

__all__ = [
    "TemporalTarget",
    "cancel",
    "cancel_workflow",
    "decide",
    "execute",
    "serve",
    "signal",
    "workflow_id",
    "workflow_states",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class TemporalTarget:
    """Where runs go: a Temporal service, its namespace and a task queue."""

    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = "podium"


def workflow_id(run_id: str) -> str:
    """The Temporal workflow id of a podium run."""
    return f"podium-{run_id}"


async def serve(
    target: TemporalTarget,
    *,
    store: Store,
    kinds: NodeKinds,
    max_concurrent_activities: int | None = None,
) -> None:
    """Serve ``target``'s task queue until cancelled.

    Args:
        target: the Temporal service and task queue.
        store: the shared store every worker of the queue writes to.
        kinds: the node kinds the workflows run (``podium.orchestrator.KINDS``).
        max_concurrent_activities: at most this many attempts and store calls at once.
    """
    client = await Client.connect(target.address, namespace=target.namespace)
    # the MCP servers the attempts use are this worker's children, stopped when it stops
    async with worker_tool_sessions(client.identity) as tools:
        activities = Activities(store, tools=tools, worker=client.identity)
        worker = Worker(
            client,
            task_queue=target.task_queue,
            workflows=[run_workflow(kinds)],
            activities=activities.all(),
            workflow_runner=UnsandboxedWorkflowRunner(),
            max_concurrent_activities=max_concurrent_activities,
            # The deadlock detector fails a workflow task that runs 2 s without yielding:
            # loading and validating a large workflow on a loaded machine can take that long.
            debug_mode=True,
        )
        try:
            await worker.run()
        finally:
            await activities.aclose()


async def execute(target: TemporalTarget, request: RunRequest) -> RunResponse:
    """Start the run as a Temporal workflow and wait for its end.

    A cancelled run (``cancel``) returns as such. A resumed run (``request.is_resumed``)
    starts a new execution of the workflow id of its earlier one, which must have closed.

    Raises:
        ConfigError: the workflow failed before it could record its end (a bad input).
        RunStateError: the run's workflow is still running (a resume).
    """
    client = await Client.connect(target.address, namespace=target.namespace)
    reuse = WorkflowIDReusePolicy.ALLOW_DUPLICATE
    if not request.is_resumed:
        reuse = WorkflowIDReusePolicy.REJECT_DUPLICATE
    try:
        return await client.execute_workflow(
            WORKFLOW_NAME,
            request,
            id=workflow_id(request.run_id),
            task_queue=target.task_queue,
            result_type=RunResponse,
            id_reuse_policy=reuse,
        )
    except WorkflowAlreadyStartedError as exc:
        msg = f"run {request.run_id} still runs on Temporal (workflow {exc.workflow_id})"
        raise RunStateError(msg) from exc
    except WorkflowFailureError as exc:
        if isinstance(exc.cause, CancelledError):  # the log records the run as cancelled
            return RunResponse(status="cancelled", error="cancelled on Temporal")
        raise ConfigError(f"run {request.run_id} failed on Temporal: {exc.cause}") from exc


async def cancel(target: TemporalTarget, run_id: str) -> None:
    """Ask Temporal to cancel a run: its workflow records ``run_completed(cancelled)``."""
    client = await Client.connect(target.address, namespace=target.namespace)
    await client.get_workflow_handle(workflow_id(run_id)).cancel()


async def cancel_workflow(ref: TemporalRef) -> None:
    """Cancel the workflow of a run on Temporal (its log records the run cancelled).

    Raises:
        RunStateError: the workflow is not running any more.
    """
    client = await Client.connect(ref.address, namespace=ref.namespace)
    try:
        await client.get_workflow_handle(ref.workflow_id).cancel()
    except RPCError as exc:
        raise RunStateError(f"workflow {ref.workflow_id} on Temporal: {exc.message}") from exc


async def workflow_states(refs: Sequence[TemporalRef]) -> dict[str, WorkflowState]:
    """Whether each of these runs' workflows still runs, by workflow id.

    A run's liveness is its workflow's, not that of the worker that started it: Temporal moves
    a workflow whose worker died to another. Where the service cannot be reached (in
    ``_ASK_TIMEOUT``), its runs' state is ``unknown``; a workflow Temporal no longer knows
    (its history was deleted) has ended.
    """
    states: dict[str, WorkflowState] = {}
    for where in {(r.address, r.namespace) for r in refs}:
        ids = [r.workflow_id for r in refs if (r.address, r.namespace) == where]
        try:
            async with asyncio.timeout(_ASK_TIMEOUT.total_seconds()):
                states.update(await _states_at(*where, ids))
        except (TimeoutError, RuntimeError, RPCError):  # RuntimeError: cannot connect
            states.update(dict.fromkeys(ids, "unknown"))
    return states


async def _states_at(address: str, namespace: str, ids: Sequence[str]) -> dict[str, WorkflowState]:
    client = await Client.connect(address, namespace=namespace)
    states: dict[str, WorkflowState] = {}
    for wid in ids:
        try:
            described = await client.get_workflow_handle(wid).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            states[wid] = "ended"
            continue
        running = described.status == WorkflowExecutionStatus.RUNNING
        states[wid] = "running" if running else "ended"
    return states


async def decide(ref: TemporalRef, request: DecisionRequest) -> Event:
    """Send a decision on a waiting task to the run's workflow; return the event it recorded.

    Raises:
        RunStateError: the task is not waiting for approval, or the run is over.
    """
    return await _update(ref, DECIDE_UPDATE, request)


async def signal(ref: TemporalRef, request: SignalRequest) -> Event:
    """Send a signal to the run's workflow; return the ``signal_received`` event it recorded.

    Raises:
        RunStateError: the run is over.
    """
    return await _update(ref, SIGNAL_UPDATE, request)


async def _update(ref: TemporalRef, name: str, request: DecisionRequest | SignalRequest) -> Event:
    client = await Client.connect(ref.address, namespace=ref.namespace)
    handle = client.get_workflow_handle(ref.workflow_id)
    try:
        # the overload taking an update's name has no unknown part; the others' ParamSpec does
        text: str = await handle.execute_update(name, request, result_type=str)  # pyright: ignore[reportUnknownMemberType]
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise RunStateError(message) from exc
    except RPCError as exc:  # no such workflow, or it has completed
        raise RunStateError(f"workflow {ref.workflow_id} on Temporal: {exc.message}") from exc
    return load_event(text)
