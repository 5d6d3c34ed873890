"""What ``podium mcp`` and ``podium a2a`` share: options, the workflows served, the address."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from podium import ConfigError, load_workflow
from podium.cli.output import EXIT_USAGE, error_console, report_error

__all__ = ["TOKEN_VARIABLE", "ModelOption", "WorkflowsArgument", "listen_address", "served"]

TOKEN_VARIABLE = "PODIUM_TOKEN"
"""Where ``podium mcp --http`` and ``podium a2a`` read their bearer token."""

WorkflowsArgument = Annotated[
    list[Path] | None,
    typer.Argument(
        metavar="WORKFLOW",
        help="Workflow files to serve, each under its workflow's name.",
        show_default=False,
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        help="Run every agent on this model (`scripted` answers offline, for a demo).",
        show_default=False,
    ),
]


def served(workflows: list[Path] | None) -> dict[str, Path]:
    """The workflow files by workflow name; exits with the problems of one that is wrong."""
    try:
        return {load_workflow(path).name: path.resolve() for path in workflows or []}
    except ConfigError as error:
        raise typer.Exit(report_error(error)) from None


def listen_address(http: str) -> tuple[str, int, str]:
    """Host, port and token for ``--http HOST:PORT``; exits when one is missing."""
    host, _, port = http.rpartition(":")
    token = os.environ.get(TOKEN_VARIABLE, "")
    if not host or not port.isdigit() or not token:
        message = f"--http takes HOST:PORT (e.g. 127.0.0.1:8765) and needs ${TOKEN_VARIABLE}"
        error_console().print(Text(message, style="red"))
        raise typer.Exit(EXIT_USAGE)
    return host, int(port), token
