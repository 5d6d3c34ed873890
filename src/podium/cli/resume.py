"""``podium resume`` (continue a run from its log) and ``podium replay`` (re-execute it from
its log, calling no model).

A run is resumable when it did not succeed: it was interrupted (its process died), cancelled,
or it failed. Resuming keeps every task that succeeded, replays the model and tool calls the
in-flight tasks had completed, and attempts failed tasks again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

import podium
from podium import Budget, PodiumError, Store
from podium.cli.live import RunView
from podium.cli.options import (
    JsonOption,
    MaxCallsOption,
    MaxCostOption,
    MaxTasksOption,
    MaxTimeOption,
    MaxTokensOption,
    QuietOption,
    StoreOption,
)
from podium.cli.output import report_error
from podium.cli.run import RunOptions, parse_budget, run_in_view
from podium.cli.runs import store_of

__all__ = ["replay_command", "resume_command"]

RunArgument = Annotated[str, typer.Argument(metavar="RUN", help="The run id.", show_default=False)]
WorkflowOption = Annotated[
    Path | None,
    typer.Option(
        "--workflow",
        metavar="FILE",
        help="The workflow file to use (default: the file the run was started from, as it is now).",
        show_default=False,
    ),
]


def resume_command(
    run: RunArgument,
    *,
    workflow: WorkflowOption = None,
    store: StoreOption = None,
    max_cost: MaxCostOption = None,
    max_tokens: MaxTokensOption = None,
    max_calls: MaxCallsOption = None,
    max_tasks: MaxTasksOption = None,
    max_time: MaxTimeOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Continue an interrupted, cancelled or failed run from its log.

    Tasks that succeeded are not run again. A task that was running when the process died
    replays the model and tool calls it had completed (none is paid for or executed twice) and
    makes only the call that was in flight again. Failed tasks are attempted again, so a run
    can also be retried after fixing what made it fail. Exit status as for `podium run`.

    A run stopped by a budget counts what it used so far, so it stops again unless the limit
    is raised: --max-cost, --max-tokens, --max-calls, --max-tasks and --max-time replace the
    limits of the same name given to `podium run` (the others stay) for the rest of the run.
    The workflow's own `budget:` still holds (the lower limit wins): raise that in the file.
    """
    budget = parse_budget(
        max_cost=max_cost,
        max_tokens=max_tokens,
        max_calls=max_calls,
        max_tasks=max_tasks,
        max_time=max_time,
    )
    raise typer.Exit(_go(run, workflow, store, json_output, quiet, replay=False, budget=budget))


def replay_command(
    run: RunArgument,
    *,
    workflow: WorkflowOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Re-execute a recorded run from its log, as a new run, without calling any model or tool.

    Every model answer and tool result comes from the recorded run, so a changed workflow or
    prompt can be debugged against a real past run. Where the new code asks for a call the
    recorded run did not make, the task fails and says where it diverged.
    """
    raise typer.Exit(_go(run, workflow, store, json_output, quiet, replay=True))


def _go(
    run: str,
    workflow: Path | None,
    store: str | None,
    json_output: bool,
    quiet: bool,
    *,
    replay: bool,
    budget: Budget | None = None,
) -> int:
    try:
        path = store_of(run, store)
        run = asyncio.run(podium.get_run(run, store=path)).run_id
    except PodiumError as error:
        return report_error(error)
    options = RunOptions(store=path, output="json" if json_output else "quiet" if quiet else "view")

    async def start(opened: Store, view: RunView) -> object:
        if replay:
            return await podium.replay(
                run, workflow, store=opened, on_event=view.apply, on_token=view.token
            )
        view.preload(await podium.get_run(run, store=opened))
        return await podium.resume(
            run, workflow, store=opened, budget=budget, on_event=view.apply, on_token=view.token
        )

    return run_in_view(options, start)
