"""``podium feedback``: rate a run, or one of its tasks, from 1 to 5.

The rating is appended to the run's log (``podium.feedback``); ``podium metrics`` reports the
mean as user satisfaction.
"""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from podium import ConfigError, PodiumError, SqliteStore
from podium.cli.output import print_json, report_error, stdout_console
from podium.cli.runs import RunArgument, StoreOption, load_run
from podium.event import FeedbackRecorded
from podium.feedback import MAX_SCORE, MIN_SCORE, record_feedback
from podium.ids import TaskId
from podium.stores.location import default_store_path

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
    path = store or default_store_path()
    try:
        if not MIN_SCORE <= score <= MAX_SCORE:
            msg = f"--score {score} is out of range: give a score from {MIN_SCORE} to {MAX_SCORE}"
            raise ConfigError(msg)
        if not path.exists():
            raise ConfigError(f"no run {run!r}: there are no runs yet in {path}")
        task_id = TaskId(task) if task is not None else None
        who = by or getpass.getuser()
        event = asyncio.run(
            _record(path, run, score=score, task_id=task_id, comment=comment, by=who)
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


async def _record(
    path: Path, prefix: str, *, score: int, task_id: TaskId | None, comment: str, by: str
) -> FeedbackRecorded:
    run_id = (await load_run(path, prefix)).run_id
    async with SqliteStore(path) as store:
        return await record_feedback(store, run_id, score, task_id=task_id, comment=comment, by=by)
