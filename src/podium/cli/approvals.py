"""``podium approvals`` (what waits for a human), ``podium approve`` and ``podium deny``.

A decision is appended to the run's log; then the run is resumed here, with the live view, so
the approved task's output is written (or the denied task fails) and the run goes on. With
``--no-resume`` only the decision is recorded; ``podium resume RUN`` continues it later.
A run on Temporal is not resumed here: the decision goes to its workflow, which goes on.
"""

from __future__ import annotations

import asyncio
import getpass
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
import yaml
from pydantic import JsonValue
from rich import box
from rich.table import Table
from rich.text import Text

import podium
from podium import ConfigError, PodiumError, RunState, Store, TaskId, load_yaml
from podium.cli.live import RunView
from podium.cli.options import JsonOption, QuietOption, StoreOption
from podium.cli.output import (
    format_time,
    jsonable,
    preview,
    print_json,
    report_error,
    stdout_console,
)
from podium.cli.run import Finish, Output, RunOptions, run_in_view
from podium.cli.runs import store_of
from podium.event import ApprovalRequested

__all__ = ["Decision", "approvals_command", "approve_command", "decide", "deny_command"]

RunArgument = Annotated[str, typer.Argument(metavar="RUN", help="The run id.", show_default=False)]
TasksArgument = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="TASK...",
        help="The waiting tasks to decide on (see `podium approvals`).",
        show_default=False,
    ),
]
ByOption = Annotated[
    str | None,
    typer.Option(
        "--by", metavar="NAME", help="Who decides (default: your user name).", show_default=False
    ),
]
NoResumeOption = Annotated[
    bool, typer.Option("--no-resume", help="Only record the decision; resume the run later.")
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What a person answered at the command line."""

    is_approval: bool
    by: str
    comment: str = ""
    reason: str = ""
    edited: str | None = None
    """The output as the person edited it (text; YAML or JSON for a structured output)."""


def approvals_command(*, store: StoreOption = None, json_output: JsonOption = False) -> None:
    """List the tasks waiting for a human decision, across runs."""
    path = store or podium.default_store()
    try:
        pending = (
            [request for _, request in asyncio.run(podium.pending_approvals(store=path))]
            if podium.store_exists(path)
            else []
        )
    except PodiumError as error:
        raise typer.Exit(report_error(error)) from None
    if json_output:
        print_json([jsonable(_request_json(r)) for r in pending])
        return
    console = stdout_console()
    if not pending:
        console.print("nothing is waiting for approval")
        return
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    for name in ("run", "task", "agent", "why", "asked", "expires", "proposed output"):
        table.add_column(name, overflow="fold" if name == "proposed output" else "ellipsis")
    for r in pending:
        expires = format_time(r.deadline) if r.deadline else "never"
        table.add_row(
            r.run_id, r.task_id, r.agent or "", r.reason, format_time(r.at), expires,
            Text(preview(r.output, 80)),
        )  # fmt: skip
    console.print(table)
    first = pending[0]
    hint = (
        f"decide with: podium approve {first.run_id} {first.task_id}  (or podium deny ... --reason)"
    )
    console.print(Text(hint, style="dim"), soft_wrap=True)


def approve_command(
    run: RunArgument,
    tasks: TasksArgument = None,
    *,
    all_tasks: Annotated[
        bool, typer.Option("--all", help="Approve every waiting task of the run.")
    ] = False,
    comment: Annotated[
        str, typer.Option(metavar="TEXT", help="A note kept with the approval.")
    ] = "",
    edit: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Approve with this output instead (YAML/JSON for structured outputs, text "
            "otherwise); one task only.",
            show_default=False,
        ),
    ] = None,
    by: ByOption = None,
    no_resume: NoResumeOption = False,
    store: StoreOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Approve waiting tasks of a run (optionally with an edited output) and resume it."""
    try:
        edited = edit.read_text(encoding="utf-8") if edit is not None else None
    except OSError as exc:
        raise typer.Exit(report_error(ConfigError(f"cannot read --edit {edit}: {exc}"))) from None
    decision = Decision(
        is_approval=True, by=by or getpass.getuser(), comment=comment, edited=edited
    )
    options = RunOptions(
        store=store or podium.default_store(),
        output=_output(json_output=json_output, quiet=quiet),
    )
    raise typer.Exit(
        decide(run, tasks or [], decision, options, every=all_tasks, resume=not no_resume)
    )


def deny_command(
    run: RunArgument,
    tasks: TasksArgument = None,
    *,
    reason: Annotated[
        str, typer.Option(metavar="TEXT", help="Why (required).", show_default=False)
    ],
    all_tasks: Annotated[
        bool, typer.Option("--all", help="Deny every waiting task of the run.")
    ] = False,
    by: ByOption = None,
    no_resume: NoResumeOption = False,
    store: StoreOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Deny waiting tasks of a run and resume it: each fails like any failure would."""
    decision = Decision(is_approval=False, by=by or getpass.getuser(), reason=reason)
    options = RunOptions(
        store=store or podium.default_store(),
        output=_output(json_output=json_output, quiet=quiet),
    )
    raise typer.Exit(
        decide(run, tasks or [], decision, options, every=all_tasks, resume=not no_resume)
    )


def decide(
    run: str,
    tasks: list[str],
    decision: Decision,
    options: RunOptions,
    *,
    every: bool = False,
    resume: bool = True,
    finish: Finish | None = None,
) -> int:
    """Record ``decision`` on waiting tasks of ``run`` and resume it; return the exit code."""
    try:
        state = asyncio.run(podium.get_run(run, store=store_of(run, options.store)))
        asyncio.run(_record(options.store, state, tasks, decision, every=every))
    except PodiumError as error:
        return report_error(error)
    if state.temporal is not None:
        stdout_console().print(f"sent to run {state.run_id} on Temporal: it goes on there")
        return 0
    if not resume:
        stdout_console().print(f"recorded; continue with: podium resume {state.run_id}")
        return 0

    async def start(store: Store, view: RunView) -> object:
        view.preload(await podium.get_run(state.run_id, store=store))
        return await podium.resume(
            state.run_id, store=store, on_event=view.apply, on_token=view.token
        )

    return run_in_view(options, start, finish=finish)


async def _record(
    path: str | Path, state: RunState, tasks: list[str], decision: Decision, *, every: bool
) -> None:
    waiting = state.approvals
    chosen = list(waiting) if every else [TaskId(t) for t in tasks]
    if not chosen:
        names = ", ".join(waiting) or "none"
        raise ConfigError(
            f"name the tasks to decide on, or --all (waiting in {state.run_id}: {names})"
        )
    if decision.edited is not None and len(chosen) != 1:
        raise ConfigError("--edit gives one output: decide on one task at a time")
    async with podium.opened_store(path) as store:
        for task_id in chosen:
            if not decision.is_approval:
                await podium.deny(
                    state.run_id, task_id, reason=decision.reason, by=decision.by, store=store
                )
                continue
            request = waiting.get(task_id)
            edited = None
            if decision.edited is not None and request is not None:
                edited = _edited(decision.edited, request.output)
            await podium.approve(
                state.run_id,
                task_id,
                output=edited,
                comment=decision.comment,
                by=decision.by,
                store=store,
            )


def _request_json(request: ApprovalRequested) -> dict[str, object]:
    return {
        "run_id": request.run_id,
        "task_id": request.task_id,
        "agent": request.agent,
        "reason": request.reason,
        "asked_at": request.at,
        "deadline": request.deadline,
        "output": request.output,
    }


def _edited(text: str, proposed: JsonValue) -> JsonValue:
    """The edited output: text for a text output, parsed YAML/JSON for a structured one.

    Raises:
        ConfigError: a structured output was edited into something that does not parse.
    """
    if not isinstance(proposed, dict | list):
        return text
    try:
        value: JsonValue = load_yaml(text)
    except yaml.YAMLError as exc:
        msg = f"the edited output must be YAML or JSON like the proposed one: {exc}"
        raise ConfigError(msg) from exc
    if value is None:
        raise ConfigError("the edited output is empty: give the output to approve")
    return value


def _output(*, json_output: bool, quiet: bool) -> Output:
    return "json" if json_output else "quiet" if quiet else "view"
