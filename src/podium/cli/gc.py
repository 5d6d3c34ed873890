"""``podium gc``: remove old runs from the store (retention).

A run is old when it started before the cutoff (``--older-than`` ago). Old runs that are done
for good (succeeded) are removed. Old runs that can still go on are kept unless ``--force``:
those waiting for approval and the resumable ones (interrupted, cancelled, failed). A run still
going in a live process is never removed, ``--force`` or not: its process is writing its log.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Final

import typer
from pydantic import JsonValue
from rich.text import Text

from podium import (
    PodiumError,
    RunSummary,
    SystemClock,
    default_store,
    opened_store,
    shown_statuses,
    store_exists,
)
from podium.cli.age import parse_age
from podium.cli.output import format_time, print_json, report_error, status_text, stdout_console
from podium.cli.runs import StoreOption

__all__ = ["gc_command"]

_EVERY_RUN: Final = 2**62
"""``list_runs`` limit that lists every run started before the cutoff."""


AgeOption = Annotated[
    timedelta,
    typer.Option(
        "--older-than",
        metavar="AGE",
        parser=parse_age,
        help="Remove runs that started more than AGE ago: 30d, 12h, 90m (m is minutes).",
        show_default=False,
    ),
]


@dataclass(slots=True)
class _Sweep:
    """The old runs, sorted by what happens to them."""

    removed: list[tuple[RunSummary, str]] = field(default_factory=list[tuple[RunSummary, str]])
    kept: list[tuple[RunSummary, str]] = field(default_factory=list[tuple[RunSummary, str]])
    """Each run with its status as ``podium runs`` shows it (``interrupted`` included)."""


def gc_command(
    *,
    older_than: AgeOption,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Also remove old runs that could still go on: failed, cancelled, interrupted, "
            "or waiting for approval. Runs still going are never removed.",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be removed; remove nothing.")
    ] = False,
    store: StoreOption = None,
    json_output: Annotated[
        bool,
        typer.Option("--json", help="Print {removed, kept, dry_run} as JSON instead of text."),
    ] = False,
) -> None:
    """Remove runs that started before a cutoff, with their whole event log.

    Old succeeded runs are removed. Old runs that can still go on (`podium resume`, `podium
    approve`) are kept unless --force; a run still going is never removed. Prints each run it
    removed (with --dry-run: would remove).
    """
    path = store or default_store()
    cutoff = SystemClock().now() - older_than
    try:
        sweep = _Sweep()
        if store_exists(path):
            sweep = asyncio.run(_sweep(path, cutoff, force=force, dry_run=dry_run))
    except PodiumError as error:
        raise typer.Exit(report_error(error)) from None
    if json_output:
        print_json(_sweep_json(sweep, dry_run=dry_run))
    else:
        _print_sweep(sweep, dry_run=dry_run, force=force)


async def _sweep(path: str | Path, cutoff: datetime, *, force: bool, dry_run: bool) -> _Sweep:
    sweep = _Sweep()
    async with opened_store(path) as store:
        summaries = await store.list_runs(limit=_EVERY_RUN, before=cutoff)
        shown = await shown_statuses(summaries)
        for summary in summaries:
            status = shown.statuses[summary.run_id]
            if _is_live(summary, status) or (status != "succeeded" and not force):
                sweep.kept.append((summary, status))
                continue
            if not dry_run and not await store.delete_run(
                summary.run_id, if_last_seq=summary.last_seq
            ):  # resumed since it was listed: a live run now, or one that goes on
                sweep.kept.append((summary, "running"))
                continue
            sweep.removed.append((summary, status))
    return sweep


def _is_live(summary: RunSummary, status: str) -> bool:
    """Whether the run is still going: its process runs, or its Temporal workflow may (one
    waiting there is alive; one whose Temporal cannot be asked is kept)."""
    return status == "running" or (summary.temporal is not None and status == "waiting")


def _print_sweep(sweep: _Sweep, *, dry_run: bool, force: bool) -> None:
    console = stdout_console()
    verb = "would remove" if dry_run else "removed"
    console.print(Text(f"{verb} {len(sweep.removed)} runs"), soft_wrap=True)
    for summary, status in sweep.removed:
        console.print(_line(summary, status), soft_wrap=True)
    going = [s for s, status in sweep.kept if status == "running"]
    resumable = [(s, status) for s, status in sweep.kept if status != "running"]
    if resumable and not force:
        note = f"kept {len(resumable)} old runs that can still go on; --force removes them too:"
        console.print(Text(note, style="dim"), soft_wrap=True)
        for summary, status in resumable:
            console.print(_line(summary, status), soft_wrap=True)
    if going:
        note = f"kept {len(going)} old runs still going: {', '.join(s.run_id for s in going)}"
        console.print(Text(note, style="dim"), soft_wrap=True)


def _line(summary: RunSummary, status: str) -> Text:
    line = Text(f"  {summary.run_id}  ")
    line.append_text(status_text(status))
    line.append(f"  {format_time(summary.started_at)}  {summary.goal or summary.workflow}")
    return line


def _sweep_json(sweep: _Sweep, *, dry_run: bool) -> JsonValue:
    def entry(summary: RunSummary, status: str) -> JsonValue:
        started = summary.started_at.isoformat() if summary.started_at else None
        return {
            "run_id": summary.run_id,
            "workflow": summary.workflow,
            "goal": summary.goal,
            "status": status,
            "started_at": started,
        }

    return {
        "removed": [entry(s, status) for s, status in sweep.removed],
        "kept": [entry(s, status) for s, status in sweep.kept],
        "dry_run": dry_run,
    }
