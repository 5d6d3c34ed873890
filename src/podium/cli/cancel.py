"""``podium cancel``: stop a run and record it cancelled; it stays resumable.

A run still going in a live process on this machine is sent SIGINT, as Ctrl-C would be, so its
own process records ``run_completed(cancelled)`` and loses nothing it wrote; the command waits
(up to ``_WAIT``) for that event to reach the store. A run whose process is gone (interrupted)
or that waits for approval gets the event appended here, after its last one. Either way the log
stays consistent and ``podium resume RUN`` continues the run.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import typer
from rich.text import Text

from podium import ConfigError, PodiumError, SqliteStore
from podium.cli.output import EXIT_FAILED, error_console, report_error, stdout_console
from podium.cli.runs import RunArgument, StoreOption, load_run
from podium.clock import SystemClock
from podium.event import RunCompleted, RunResumed, RunStarted
from podium.ids import RunId
from podium.liveness import is_alive
from podium.run import RunState, project
from podium.stores.location import default_store_path

__all__ = ["cancel_command"]

_WAIT: Final = timedelta(seconds=10)
"""How long a signalled run's process has to record that it was cancelled."""
_POLL: Final = timedelta(milliseconds=100)
_PID_SLACK: Final = timedelta(seconds=2)
"""Clock granularity allowed when telling whether a pid was reused since the run recorded it."""
_ERROR: Final = "cancelled with podium cancel"


def cancel_command(run: RunArgument, *, store: StoreOption = None) -> None:
    """Cancel a running, interrupted or waiting run; `podium resume RUN` continues it later.

    A run going on in a process on this machine is sent SIGINT (as Ctrl-C would be) and records
    itself cancelled, keeping everything it wrote; this waits up to 10 seconds for that. A run
    whose process is gone is recorded cancelled here.

    Exit status:

    - 0: the run is recorded cancelled
    - 1: its process did not stop in time (it may ignore SIGINT), or the store failed
    - 2: no such run, or it already ended
    """
    path = store or default_store_path()
    try:
        if not path.exists():
            raise ConfigError(f"no run {run!r}: there are no runs yet in {path}")
        raise typer.Exit(asyncio.run(_cancel(path, run)))
    except PodiumError as error:
        raise typer.Exit(report_error(error)) from None


async def _cancel(path: Path, prefix: str) -> int:
    """Cancel the run ``prefix`` names; return the exit code.

    Raises:
        ConfigError: no such run, or it already ended.
    """
    state = await load_run(path, prefix)
    run_id = state.run_id
    if state.status in ("succeeded", "failed", "cancelled"):
        again = "" if state.status == "succeeded" else f"; `podium resume {run_id}` continues it"
        raise ConfigError(f"run {run_id} already ended {state.status}: nothing to cancel{again}")
    async with SqliteStore(path) as opened:
        pid = await _live_process(opened, state)
        if pid is None:
            await _record_cancelled(opened, state)
            return _done(run_id, "recorded it cancelled (its process is gone)")
        os.kill(pid, signal.SIGINT)
        return await _wait_for_cancelled(opened, state, pid)


async def _live_process(store: SqliteStore, state: RunState) -> int | None:
    """The pid of the process running ``state``'s run here, if it is still running it."""
    pid = state.pid
    if state.status != "running" or pid is None or not is_alive(pid):
        return None
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


async def _record_cancelled(store: SqliteStore, state: RunState) -> None:
    """Append ``run_completed(cancelled)`` after the log's last event."""
    event = RunCompleted(
        seq=state.last_seq + 1,
        run_id=state.run_id,
        at=SystemClock().now(),
        status="cancelled",
        error=_ERROR,
    )
    await store.append(state.run_id, [event])


async def _wait_for_cancelled(store: SqliteStore, state: RunState, pid: int) -> int:
    """Wait until the signalled run records its end (or its process dies); return the exit code.

    Raises:
        ConfigError: the run ended otherwise (it finished before the signal arrived).
    """
    clock = SystemClock()
    deadline = clock.monotonic() + _WAIT.total_seconds()
    while True:
        end = await _ended(store, state.run_id, state.last_seq)
        if end is not None:
            if end.status != "cancelled":
                msg = f"run {state.run_id} ended {end.status} before it could be cancelled"
                raise ConfigError(msg)
            return _done(state.run_id, f"its process ({pid}) stopped and recorded it cancelled")
        if not is_alive(pid):  # died without recording its end: record it here
            latest = await _state_now(store, state.run_id)
            if latest.status == "running":
                await _record_cancelled(store, latest)
                return _done(state.run_id, "recorded it cancelled (its process died)")
            continue
        if clock.monotonic() > deadline:
            return _not_stopped(state.run_id, pid)
        await clock.sleep(_POLL)


async def _ended(store: SqliteStore, run_id: RunId, after_seq: int) -> RunCompleted | None:
    events = await store.read(run_id, after_seq=after_seq)
    return next((e for e in reversed(events) if isinstance(e, RunCompleted)), None)


async def _state_now(store: SqliteStore, run_id: RunId) -> RunState:
    return project(run_id, await store.read(run_id))


def _done(run_id: RunId, how: str) -> int:
    message = Text(f"run {run_id} cancelled: {how}\n", style="yellow")
    message.append(f"continue it with: podium resume {run_id}", style="default")
    stdout_console().print(message, soft_wrap=True)
    return 0


def _not_stopped(run_id: RunId, pid: int) -> int:
    seconds = int(_WAIT.total_seconds())
    message = (
        f"run {run_id}: its process ({pid}) was sent SIGINT but did not record its end within "
        f"{seconds}s; it may ignore SIGINT (a shell starts background jobs that way). Stop it "
        f"with `kill {pid}`, then run `podium cancel {run_id}` again to record it cancelled."
    )
    error_console().print(Text(message, style="red"))
    return EXIT_FAILED
