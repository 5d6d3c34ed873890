"""``podium runs`` (the recorded runs, newest first) and ``podium show`` (one run in full).

Both read the store and fold each run's event log (``podium.run``); they never write, so
they can watch a run another process is still recording.
"""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import fields as dataclass_fields
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Final, cast

import typer
from pydantic import JsonValue
from rich import box
from rich.table import Table
from rich.text import Text

import podium
from podium import (
    ConfigError,
    PodiumError,
    RunSummary,
    Shown,
    SystemClock,
    default_store,
    shown_statuses,
    store_exists,
)
from podium.cli.age import parse_age
from podium.cli.output import (
    format_cost,
    format_duration,
    format_time,
    format_tokens,
    jsonable,
    print_json,
    report_error,
    run_coroutine,
    status_text,
    stdout_console,
)
from podium.cli.report import MAX_DETAILED, run_report
from podium.event import RunStatus

__all__ = ["RunArgument", "StoreOption", "runs_command", "show_command", "store_of"]

_STATUSES: Final = ("running", "interrupted", "waiting", "succeeded", "failed", "cancelled")
_RESUMABLE: Final = ("interrupted", "cancelled", "failed")

StoreOption = Annotated[
    str | None,
    typer.Option(
        metavar="STORE",
        help="Where the runs are recorded: a SQLite file, or a PostgreSQL URL "
        "(postgresql://user@host/db, ?schema=NAME for a schema other than podium; needs "
        "podium[postgres]). Default: $PODIUM_STORE, else .podium/podium.db in this or a parent "
        "directory, else podium.db in your user data directory.",
        show_default=False,
    ),
]


RunArgument = Annotated[
    str,
    typer.Argument(
        metavar="RUN",
        help="A run id, or enough of its first characters to tell it apart.",
        show_default=False,
    ),
]


def runs_command(
    *,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, metavar="N", help="Show the N most recent runs.")
    ] = 20,
    status: Annotated[
        str | None,
        typer.Option(
            metavar="STATUS",
            help=f"Only runs in this status: {', '.join(_STATUSES)}.",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        timedelta | None,
        typer.Option(
            metavar="AGE",
            parser=parse_age,
            help="Only runs started less than AGE ago: 30d, 12h, 90m (m is minutes).",
            show_default=False,
        ),
    ] = None,
    store: StoreOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the runs as a JSON list instead of a table.")
    ] = False,
) -> None:
    """List recorded runs, newest first: status, start time, duration, tasks, tokens, cost.

    The store finds the runs by status and start time itself (from its indexes).
    """
    if status is not None and status not in _STATUSES:
        raise typer.BadParameter(f"{status!r}: give {', '.join(_STATUSES)}", param_hint="--status")
    path = store or default_store()
    try:
        summaries, shown = [], Shown()
        if store_exists(path):
            summaries, shown = run_coroutine(_list(path, limit, status, since))
    except PodiumError as error:
        raise typer.Exit(report_error(error)) from None
    if json_output:
        print_json([_summary_json(s, shown) for s in summaries])
        return
    console = stdout_console()
    if not summaries:
        where = "the store" if "://" in str(path) else str(path)  # a URL may hold a password
        console.print(Text(f"no runs yet in {where}"), soft_wrap=True)
        return
    console.print(_runs_table(summaries, shown))
    stopped = [s for s in summaries if shown.statuses[s.run_id] in _RESUMABLE]
    if stopped:
        hint = f"resume one with: podium resume {stopped[0].run_id}"
        console.print(Text(hint, style="dim"), soft_wrap=True)
    note = shown.note()
    if note is not None:
        console.print(Text(note, style="yellow"), soft_wrap=True)


async def _list(
    path: str | Path, limit: int, status: str | None, since: timedelta | None
) -> tuple[list[RunSummary], Shown]:
    """The runs to list, with their status as shown. ``interrupted`` and ``running`` are both
    recorded as running, and a run on Temporal waiting for approval too: the store finds
    those, and liveness tells them apart (so fewer than ``limit`` may show)."""
    after = None if since is None else SystemClock().now() - since
    recorded: list[RunStatus | None] = [cast(RunStatus | None, status)]
    if status in ("running", "interrupted", "waiting"):
        recorded = ["running", "waiting"]
    found: list[RunSummary] = []
    for one in recorded:
        found += await podium.list_runs(limit=limit, status=one, since=after, store=path)
    found.sort(key=lambda s: (s.started_at is not None, s.started_at), reverse=True)
    shown = await shown_statuses(found)
    kept = [s for s in found if status is None or shown.statuses[s.run_id] == status]
    return kept[:limit], shown


def _summary_json(summary: RunSummary, shown: Shown) -> JsonValue:
    data = asdict(summary)
    data["status"] = shown.statuses[summary.run_id]
    data["duration_s"] = summary.duration.total_seconds() if summary.duration else None
    del data["duration"]
    return jsonable(data)


def _runs_table(summaries: list[RunSummary], shown: Shown) -> Table:
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0))
    for name in ("run", "workflow / goal", "status", "started"):
        table.add_column(name, no_wrap=name != "workflow / goal")
    for name in ("duration", "tasks ✓/✗", "tokens", "cost"):
        table.add_column(name, justify="right", no_wrap=True)
    for s in summaries:
        table.add_row(
            Text(s.run_id),
            Text(s.goal or s.workflow),
            status_text(shown.statuses[s.run_id]),
            format_time(s.started_at),
            format_duration(s.duration),
            f"{s.tasks_succeeded}/{s.tasks_failed}",
            format_tokens(s.tokens),
            format_cost(s.cost),
        )
    return table


def show_command(
    run: RunArgument,
    *,
    store: StoreOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the run's full state as JSON instead.")
    ] = False,
    show_all: Annotated[
        bool,
        typer.Option(
            "--all",
            help=f"Print every task, call and write of a large run (over {MAX_DETAILED} tasks, "
            "calls or writes), which is otherwise summarised.",
        ),
    ] = False,
) -> None:
    """Show one run in full: graph, tasks, context with provenance, notes and output.

    For each task: its agent, status, attempts, start time, duration, model calls, tokens,
    cost, and its output or error. For each context write: the key, its version, the agent
    and task that wrote it (or "input"), and when. Works on runs in progress, failed or
    cancelled too. A large run is summarised: tasks by status, the failed and the slowest
    ones, calls and writes counted (--all prints everything).
    """
    try:
        state = run_coroutine(podium.get_run(run, store=store_of(run, store)))
    except PodiumError as error:
        raise typer.Exit(report_error(error)) from None
    if json_output:
        # The state's fields as they are: asdict would deep-copy every event first
        fields = {f.name: getattr(state, f.name) for f in dataclass_fields(state)}
        print_json({**fields, "hallucination_rate": state.hallucination_rate})
        return
    console = stdout_console()
    console.print(run_report(state, console, is_full=show_all))


def store_of(run: str, store: str | Path | None) -> str | Path:
    """The store that should hold ``run`` (``--store``, else the default one).

    Raises:
        ConfigError: ``run`` is blank, or the store is a file that does not exist (no run
            was recorded).
    """
    path = store or default_store()
    if not run.strip():
        raise ConfigError("give a run id, or its first characters; `podium runs` lists them")
    if not store_exists(path):
        raise ConfigError(f"no run {run!r}: there are no runs yet in {path}")
    return path
