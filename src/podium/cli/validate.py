"""``podium validate``: load and check a workflow file without running it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from podium import ConfigError, load_workflow, validate_workflow
from podium.cli.output import EXIT_USAGE, error_console, report_error, stdout_console

__all__ = ["validate_command"]


def validate_command(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="The workflow file (YAML) to check.", show_default=False
        ),
    ],
) -> None:
    """Check a workflow file without running it: YAML syntax, fields, agents, the task graph.

    Prints every problem at once, each with its file:line, and exits with status 2;
    prints "FILE is valid: N tasks, M agents" and exits with 0 when there is none.
    """
    if not file.exists():
        error_console().print(Text(f"no workflow file {str(file)!r}", style="red"))
        raise typer.Exit(EXIT_USAGE)
    try:
        workflow = load_workflow(file)
        validate_workflow(workflow)
    except ConfigError as error:
        raise typer.Exit(report_error(error)) from None
    tasks = sum(1 for _ in workflow.all_tasks())
    agents = len(workflow.agents)
    message = (
        f"{file} is valid: {tasks} task{'s' * (tasks != 1)}, {agents} agent{'s' * (agents != 1)}"
    )
    stdout_console().print(Text(message, style="green"), soft_wrap=True)
