"""``podium cancel``: stop a run and record it cancelled; it stays resumable.

The work is ``podium.cancel``: a run going on in a live process here is sent SIGINT and
records itself cancelled; a run whose process is gone is recorded cancelled here.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Final

import typer
from rich.text import Text

import podium
from podium import Cancellation, PodiumError
from podium.cli.output import EXIT_FAILED, error_console, report_error, stdout_console
from podium.cli.runs import RunArgument, StoreOption, store_of

__all__ = ["cancel_command"]

_WAIT: Final = timedelta(seconds=10)
"""How long a signalled run's process has to record that it was cancelled."""
_HOW: Final = {
    "recorded": "recorded it cancelled (its process is gone)",
    "stopped": "its process ({pid}) stopped and recorded it cancelled",
    "died": "recorded it cancelled (its process died)",
    "workflow": "its Temporal workflow was cancelled and recorded it cancelled",
}


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
    try:
        done = asyncio.run(podium.cancel(run, wait=_WAIT, store=store_of(run, store)))
    except PodiumError as error:
        raise typer.Exit(report_error(error)) from None
    raise typer.Exit(_report(done))


def _report(done: Cancellation) -> int:
    if not done.is_cancelled:
        return _not_stopped(done)
    how = _HOW[done.how].format(pid=done.pid)
    message = Text(f"run {done.run_id} cancelled: {how}\n", style="yellow")
    if done.how == "workflow":  # not resumed here (podium resume says so)
        message.append("start it again with: podium run FILE --engine temporal", style="default")
    else:
        message.append(f"continue it with: podium resume {done.run_id}", style="default")
    stdout_console().print(message, soft_wrap=True)
    return 0


def _not_stopped(done: Cancellation) -> int:
    seconds = int(_WAIT.total_seconds())
    run_id, pid = done.run_id, done.pid
    message = (
        f"run {run_id}: its process ({pid}) was sent SIGINT but did not record its end within "
        f"{seconds}s; it may ignore SIGINT (a shell starts background jobs that way). Stop it "
        f"with `kill {pid}`, then run `podium cancel {run_id}` again to record it cancelled."
    )
    if pid is None:  # a run on Temporal
        message = (
            f"run {run_id}: its Temporal workflow was cancelled but did not record its end "
            f"within {seconds}s; it will once a worker (podium worker --engine temporal) "
            "serves its task queue."
        )
    error_console().print(Text(message, style="red"))
    return EXIT_FAILED
