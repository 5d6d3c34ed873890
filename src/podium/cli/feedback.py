"""``podium feedback``: rate a run, or one of its tasks, from 1 to 5.

The rating is appended to the run's log (``podium.feedback``); ``podium metrics`` reports the
mean as user satisfaction.
"""

from __future__ import annotations

import asyncio
import getpass
from typing import Annotated

import typer
from rich.text import Text

import podium
from podium import PodiumError
from podium.cli.output import print_json, report_error, stdout_console
from podium.cli.runs import RunArgument, StoreOption, store_of

__all__ = ["feedback_command"]


def feedback_command(
    run: RunArgument,
    *,
    score: Annotated[
        int,
        typer.Option(
            "--score",
            metavar="1..5",
            help="How good it was: 1 (bad) to 5 (excellent).",
            show_default=False,
        ),
    ],
    task: Annotated[
        str | None,
        typer.Option("--task", metavar="TASK", help="Rate this task rather than the whole run."),
    ] = None,
    comment: Annotated[
        str, typer.Option("--comment", metavar="TEXT", help="Why, in your words.")
    ] = "",
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            metavar="NAME",
            help="Who rates (default: your user name).",
            show_default=False,
        ),
    ] = None,
    store: StoreOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the recorded feedback event as JSON.")
    ] = False,
) -> None:
    """Rate a run (or one task of it) from 1 to 5; `podium metrics` shows the mean."""
    try:
        path = store_of(run, store)
        event = asyncio.run(
            podium.feedback(
                run, score, task_id=task, comment=comment, by=by or getpass.getuser(), store=path
            )
        )
    except PodiumError as error:
        raise typer.Exit(report_error(error)) from None
    if json_output:
        print_json(event)
        return
    where = (
        f"task {event.task_id} of run {event.run_id}" if event.task_id else f"run {event.run_id}"
    )
    stdout_console().print(Text(f"recorded {event.score}/5 for {where}"), soft_wrap=True)
