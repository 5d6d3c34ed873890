"""Whether a run is being executed right now by a live process on this machine.

A run's log records the process running it (``run_started``/``run_resumed``). Anything that
appends to a run's log from outside that process (a decision, feedback) or that would execute
the run a second time (resume) must first make sure the run is not live: the live process
numbers its events itself, and two writers would collide.
"""

from __future__ import annotations

import os

from podium.errors import ConfigError
from podium.event import Event
from podium.ids import RunId
from podium.run import RunState, RunStatus, project
from podium.stores.base import Store

__all__ = ["ensure_not_running", "is_alive", "read_stopped_run", "shown_status"]


def is_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def shown_status(status: RunStatus, pid: int | None) -> str:
    """The status to show: a run "running" whose recorded process is gone was interrupted."""
    if status == "running" and (pid is None or not is_alive(pid)):
        return "interrupted"
    return status


async def read_stopped_run(
    store: Store, run_id: RunId, *, doing: str
) -> tuple[list[Event], RunState]:
    """A run's log and state, for appending to it from outside its process.

    Raises:
        ConfigError: there is no such run, or a live process is executing it.
    """
    events = await store.read(run_id)
    if not events:
        raise ConfigError(f"no run {run_id!r} in the store; `podium runs` lists the recent ones")
    state = project(run_id, events)
    ensure_not_running(state, doing=doing)
    return events, state


def ensure_not_running(state: RunState, *, doing: str) -> None:
    """Refuse to touch a run another live process is executing.

    Raises:
        ConfigError: the run is running in another live process.
    """
    pid = state.pid
    if state.status != "running" or pid is None or pid == os.getpid() or not is_alive(pid):
        return
    msg = (
        f"run {state.run_id} is still running (process {pid}): {doing} once it has ended "
        f"or is waiting, or stop it first with `podium cancel {state.run_id}`"
    )
    raise ConfigError(msg)
