"""Whether a run is being executed right now by a live process on this machine.

A run's log records the process running it (``run_started``/``run_resumed``). Anything that
appends to a run's log from outside that process (a decision, feedback) or that would execute
the run a second time (resume) must first make sure the run is not live: the live process
numbers its events itself, and two writers would collide.
"""

from __future__ import annotations

import os

from podium.errors import ConfigError
from podium.run import RunState

__all__ = ["ensure_not_running", "is_alive"]


def is_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


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
