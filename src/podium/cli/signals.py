"""``podium signal RUN NAME --data JSON``: send a signal to a run, then resume it.

The signal is appended to the run's log (its ``wait: {signal: NAME}`` tasks take it, even one
that only begins to wait later); then the run is resumed here with the live view. With
``--no-resume`` only the signal is recorded; ``podium resume RUN`` continues the run later.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from typing import Annotated

import typer
from pydantic import JsonValue

import podium
from podium import ConfigError, PodiumError, Store
from podium.cli.approvals import ByOption, NoResumeOption, RunArgument
from podium.cli.live import RunView
from podium.cli.output import report_error, stdout_console
from podium.cli.run import JsonOption, Output, QuietOption, RunOptions, StoreOption, run_in_view
from podium.cli.runs import store_of

__all__ = ["signal_command"]


def signal_command(
    run: RunArgument,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The signal's name.", show_default=False)
    ],
    *,
    data: Annotated[
        str | None,
        typer.Option(
            metavar="JSON",
            help="The signal's payload, as JSON: the output of the task that takes it.",
            show_default=False,
        ),
    ] = None,
    by: ByOption = None,
    no_resume: NoResumeOption = False,
    store: StoreOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Send a signal to a run (its `wait:` tasks take it, --data their output) and resume it."""
    output: Output = "json" if json_output else "quiet" if quiet else "view"
    options = RunOptions(store=store or podium.default_store(), output=output)
    try:
        payload = _payload(data)
        state = asyncio.run(podium.get_run(run, store=store_of(run, options.store)))
        sender = by or getpass.getuser()
        asyncio.run(podium.signal(state.run_id, name, data=payload, by=sender, store=options.store))
    except PodiumError as error:
        raise typer.Exit(report_error(error)) from None
    if state.temporal is not None:
        stdout_console().print(f"sent to run {state.run_id} on Temporal: it goes on there")
        raise typer.Exit(0)
    if no_resume:
        stdout_console().print(f"recorded; continue with: podium resume {state.run_id}")
        raise typer.Exit(0)

    async def start(store: Store, view: RunView) -> object:
        view.preload(await podium.get_run(state.run_id, store=store))
        return await podium.resume(
            state.run_id, store=store, on_event=view.apply, on_token=view.token
        )

    raise typer.Exit(run_in_view(options, start))


def _payload(data: str | None) -> JsonValue:
    if data is None:
        return None
    try:
        value: JsonValue = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--data is not JSON: {exc}") from exc
    return value
