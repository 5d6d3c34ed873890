"""Cancelling a run: stop it and record it cancelled; it stays resumable.

A run still going in a live process on this machine is sent SIGINT, as Ctrl-C would be, so its
own process records ``run_completed(cancelled)`` and loses nothing it wrote; ``cancel`` waits
(up to ``wait``) for that event to reach the store. A run whose process is gone (interrupted)
or that waits for approval gets the event appended here, after its last one. Either way the log
stays consistent and ``podium.resume`` continues the run.

A run on the Temporal engine is cancelled as a Temporal workflow: its workflow records
``run_completed(cancelled)`` itself, wherever it runs.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Literal

from podium.clock import SystemClock
from podium.distributed import cancel_workflow_of
from podium.errors import RunStateError
from podium.event import RunCompleted, RunResumed, RunStarted
from podium.history import resolve_run_id
from podium.ids import RunId
from podium.liveness import is_alive, this_host
from podium.run import RunState, project
from podium.stores.argument import StoreArg, opened_store
from podium.stores.base import Store

__all__ = ["Cancellation", "cancel"]

_POLL: Final = timedelta(milliseconds=100)
_PID_SLACK: Final = timedelta(seconds=2)
"""Clock granularity allowed when telling whether a pid was reused since the run recorded it."""
_ERROR: Final = "cancelled with podium cancel"


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancellation:
    """How a run was cancelled (``podium.cancel``)."""

    run_id: RunId
    how: Literal["recorded", "stopped", "died", "workflow", "not_stopped"]
    """``recorded``: its process was gone, the cancellation was recorded here; ``stopped``:
    its process was sent SIGINT and recorded it cancelled; ``died``: its process died after
    the signal without recording its end, so it was recorded here; ``workflow``: the run is
    on Temporal, its workflow was cancelled and recorded it cancelled; ``not_stopped``: its
    process was sent SIGINT (or its workflow was cancelled) but did not record its end in
    time (it may ignore SIGINT; no worker may serve the workflow)."""
    pid: int | None = None
    """The process that was running it, when one was signalled."""

    @property
    def is_cancelled(self) -> bool:
        """Whether the run is now recorded cancelled."""
        return self.how != "not_stopped"


async def cancel(
    run_id: str, *, wait: timedelta = timedelta(seconds=10), store: StoreArg = None
) -> Cancellation:
    """Cancel a running, interrupted or waiting run; ``podium.resume`` continues it later.

    Args:
        run_id: the run's id, or enough of its first characters to name one run.
        wait: how long a signalled process has to record that it was cancelled.
        store: a ``Store``, a SQLite file path, or None for ``default_store_path()``.

    Returns:
        How it was cancelled; ``is_cancelled`` is False when a signalled process did not
        stop within ``wait``.

    Raises:
        RunNotFoundError: no such run.
        RunStateError: it already ended, or it ended otherwise while being
            cancelled.
        StoreError: the store cannot be read or written.
    """
    async with opened_store(store) as opened:
        resolved = await resolve_run_id(opened, run_id)
        state = project(resolved, await opened.read(resolved))
        if state.status in ("succeeded", "failed", "cancelled"):
            again = (
                "" if state.status == "succeeded" else f"; `podium resume {resolved}` continues it"
            )
            msg = f"run {resolved} already ended {state.status}: nothing to cancel{again}"
            raise RunStateError(msg)
        if state.temporal is not None:
            await cancel_workflow_of(state.temporal)
            return await _wait_for_cancelled(opened, state, None, wait)
        pid = await _live_process(opened, state)
        if pid is None:
            await _record_cancelled(opened, state)
            return Cancellation(run_id=resolved, how="recorded")
        os.kill(pid, signal.SIGINT)
        return await _wait_for_cancelled(opened, state, pid, wait)


async def _live_process(store: Store, state: RunState) -> int | None:
    """The pid of the process running ``state``'s run here, if it is still running it.

    Raises:
        RunStateError: the run is going on another machine: its process cannot be signalled
            (nor checked) from here.
    """
    pid = state.pid
    if state.status != "running" or pid is None or not is_alive(pid, state.host):
        return None
    if state.host is not None and state.host != this_host():
        msg = (
            f"run {state.run_id} is running on {state.host} (process {pid}): cancel it "
            "there, where podium can signal its process"
        )
        raise RunStateError(msg)
    events = await store.read(state.run_id)
    starts = [e.at for e in events if isinstance(e, RunStarted | RunResumed)]
    return pid if not starts or not _started_after(pid, starts[-1] + _PID_SLACK) else None


def _started_after(pid: int, at: datetime) -> bool:
    """Whether process ``pid`` started after ``at``: then the pid was reused, and signalling
    it would hit an unrelated process. Known on Linux (``/proc``); elsewhere assumed not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        boot = Path("/proc/stat").read_text(encoding="ascii", errors="replace")
        btime = next(int(line.split()[1]) for line in boot.splitlines() if line.startswith("btime"))
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime, in clock ticks
        hertz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return False
    return datetime.fromtimestamp(btime + ticks / hertz, UTC) > at


async def _record_cancelled(store: Store, state: RunState) -> None:
    """Append ``run_completed(cancelled)`` after the log's last event."""
    event = RunCompleted(
        seq=state.last_seq + 1,
        run_id=state.run_id,
        at=SystemClock().now(),
        status="cancelled",
        error=_ERROR,
    )
    await store.append(state.run_id, [event])


async def _wait_for_cancelled(
    store: Store, state: RunState, pid: int | None, wait: timedelta
) -> Cancellation:
    """Wait until the signalled run (or cancelled workflow: no ``pid``) records its end, or
    its process dies.

    Raises:
        RunStateError: the run ended otherwise (it finished before the signal arrived).
    """
    clock = SystemClock()
    deadline = clock.monotonic() + wait.total_seconds()
    while True:
        end = await _ended(store, state.run_id, state.last_seq)
        if end is not None:
            if end.status != "cancelled":
                msg = f"run {state.run_id} ended {end.status} before it could be cancelled"
                raise RunStateError(msg)
            return Cancellation(run_id=state.run_id, how="stopped" if pid else "workflow", pid=pid)
        if pid is not None and not is_alive(pid):  # died without recording its end: record it here
            latest = project(state.run_id, await store.read(state.run_id))
            if latest.status == "running":
                await _record_cancelled(store, latest)
                return Cancellation(run_id=state.run_id, how="died", pid=pid)
            continue
        if clock.monotonic() > deadline:
            return Cancellation(run_id=state.run_id, how="not_stopped", pid=pid)
        await clock.sleep(_POLL)


async def _ended(store: Store, run_id: RunId, after_seq: int) -> RunCompleted | None:
    events = await store.read(run_id, after_seq=after_seq)
    return next((e for e in reversed(events) if isinstance(e, RunCompleted)), None)
