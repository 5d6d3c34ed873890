"""Whether a run is being executed right now by a live process.

A run's log records the process running it and its machine (``run_started``/``run_resumed``).
Anything that appends to a run's log from outside that process (a decision, feedback) or that
would execute the run a second time (resume) must first make sure the run is not live: the
live process numbers its events itself, and two writers would collide.

A process on this machine is checked directly. One on another machine (a store several
machines share) cannot be checked from here, so it counts as alive: podium never takes over a
run that may still be going. A run on the Temporal engine (``temporal_ref``) is its Temporal
workflow's, which any worker may carry on: what is sent to it goes there, never to its log, and
it is live while that workflow runs (``WorkflowState``), whichever process started it.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from typing import Literal

from podium.errors import RunNotFoundError, RunStateError
from podium.event import Event, RunStarted, TemporalRef
from podium.ids import RunId
from podium.run import RunState, RunStatus, project
from podium.stores.base import Store

__all__ = [
    "WorkflowState",
    "conflict_error",
    "ensure_not_running",
    "is_alive",
    "read_stopped_run",
    "shown_status",
    "temporal_ref",
    "this_host",
]


@cache
def this_host() -> str:
    """The name of this machine, as runs record it."""
    return socket.gethostname()


def is_alive(pid: int, host: str | None = None) -> bool:
    """Whether process ``pid`` of ``host`` (None: this machine) may still be running.

    A process of another machine cannot be checked from here: it counts as alive.
    """
    if host is not None and host != this_host():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


WorkflowState = Literal["running", "ended", "unknown"]
"""Whether a run's Temporal workflow still runs (``podium.workflow_states``); ``unknown``:
the Temporal service could not be asked."""


def shown_status(
    status: RunStatus,
    pid: int | None,
    host: str | None = None,
    *,
    workflow: WorkflowState | None = None,
) -> str:
    """The status to show: a run "running" whose recorded process is gone was interrupted.

    A run on Temporal (give its ``workflow`` state) is not one process's: it is interrupted
    only once its workflow has ended without recording the run's end (it was terminated, or
    failed); while its workflow runs, or when Temporal cannot be asked, its log says.
    """
    if workflow is not None:
        is_open = status in ("running", "waiting")
        return "interrupted" if is_open and workflow == "ended" else status
    if status == "running" and (pid is None or not is_alive(pid, host)):
        return "interrupted"
    return status


async def read_stopped_run(
    store: Store, run_id: RunId, *, doing: str
) -> tuple[list[Event], RunState]:
    """A run's log and state, for appending to it from outside its process.

    Raises:
        RunNotFoundError: there is no such run.
        RunStateError: a live process is executing it.
    """
    events = await store.read(run_id)
    if not events:
        raise RunNotFoundError(
            f"no run {run_id!r} in the store; `podium runs` lists the recent ones"
        )
    state = project(run_id, events)
    ensure_not_running(state, doing=doing)
    return events, state


def ensure_not_running(state: RunState, *, doing: str) -> None:
    """Refuse to touch a run another live process is executing.

    Raises:
        RunStateError: the run is running in another live process (or in a process of
            another machine, which cannot be checked from here).
    """
    if state.temporal is not None:
        _ensure_workflow_not_running(state, doing=doing)
        return
    pid, host = state.pid, state.host
    is_here = host is None or host == this_host()
    if state.status != "running" or pid is None or (is_here and pid == os.getpid()):
        return
    if not is_alive(pid, host):
        return
    where = f"process {pid}" if is_here else f"process {pid} on {host}"
    msg = (
        f"run {state.run_id} is still running ({where}): {doing} once it has ended "
        f"or is waiting, or stop it first with `podium cancel {state.run_id}`"
    )
    if not is_here:
        msg += f" on {host}"
    raise RunStateError(msg)


def _ensure_workflow_not_running(state: RunState, *, doing: str) -> None:
    """A run on Temporal that its log says is running or waiting is its workflow's: the
    workflow numbers its events, so nothing else appends to its log meanwhile.

    Raises:
        RunStateError: the log records no end of the run.
    """
    if state.status not in ("running", "waiting"):
        return
    ref = state.temporal
    assert ref is not None
    msg = (
        f"run {state.run_id} is {state.status} on Temporal (workflow {ref.workflow_id} at "
        f"{ref.address}), which writes its log: {doing} once it has ended; if that workflow "
        f"was terminated, `podium resume {state.run_id}` starts it again"
    )
    raise RunStateError(msg)


async def conflict_error(store: Store, run_id: RunId, *, doing: str) -> RunStateError:
    """What to say when an append to ``run_id`` lost to another writer
    (``AppendConflictError``): it is running elsewhere now, or it was deleted."""
    events = await store.read(run_id)
    if not events:
        return RunStateError(f"run {run_id} was deleted (podium gc?) as we went to {doing}")
    try:
        ensure_not_running(project(run_id, events), doing=doing)
    except RunStateError as running:
        return running
    return RunStateError(f"run {run_id} changed as we went to {doing}: another process wrote to it")


async def temporal_ref(store: Store, run_id: RunId) -> TemporalRef | None:
    """The Temporal workflow executing ``run_id`` (its ``run_started`` says); None for a run
    of one process, or no such run."""
    events = await store.read(run_id)
    started = events[0] if events else None
    return started.temporal if isinstance(started, RunStarted) else None
