"""Serving a task queue (``serve``) and running a workflow file on it (``execute``, ``cancel``).

A worker runs both halves of the engine: the ``podium.run`` workflow (the executor) and the
activities (store appends and reads, attempts at agent tasks). Any number of workers may
serve one task queue; Temporal spreads attempts over them and moves a run whose worker died
to another.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import CancelledError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from podium.engine.kinds import NodeKinds
from podium.engine.temporal.activities import Activities
from podium.engine.temporal.wire import RunRequest, RunResponse
from podium.engine.temporal.workflow import WORKFLOW_NAME, run_workflow
from podium.errors import ConfigError
from podium.stores.base import Store

__all__ = ["TemporalTarget", "cancel", "execute", "serve", "workflow_id"]


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
    activities = Activities(store)
    worker = Worker(
        client,
        task_queue=target.task_queue,
        workflows=[run_workflow(kinds)],
        activities=activities.all(),
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_concurrent_activities=max_concurrent_activities,
        # The deadlock detector fails a workflow task that runs 2 s without yielding: loading
        # and validating a large workflow on a loaded machine can take that long.
        debug_mode=True,
    )
    try:
        await worker.run()
    finally:
        await activities.aclose()


async def execute(target: TemporalTarget, request: RunRequest) -> RunResponse:
    """Start the run as a Temporal workflow and wait for its end.

    A cancelled run (``cancel``) returns as such.

    Raises:
        ConfigError: the workflow failed before it could record its end (a bad input).
    """
    client = await Client.connect(target.address, namespace=target.namespace)
    try:
        return await client.execute_workflow(
            WORKFLOW_NAME,
            request,
            id=workflow_id(request.run_id),
            task_queue=target.task_queue,
            result_type=RunResponse,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowFailureError as exc:
        if isinstance(exc.cause, CancelledError):  # the log records the run as cancelled
            return RunResponse(status="cancelled", error="cancelled on Temporal")
        raise ConfigError(f"run {request.run_id} failed on Temporal: {exc.cause}") from exc


async def cancel(target: TemporalTarget, run_id: str) -> None:
    """Ask Temporal to cancel a run: its workflow records ``run_completed(cancelled)``."""
    client = await Client.connect(target.address, namespace=target.namespace)
    await client.get_workflow_handle(workflow_id(run_id)).cancel()
