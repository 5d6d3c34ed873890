"""``podium mcp``: serve podium to MCP hosts, over stdio or streamable HTTP with a token."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from podium import ConfigError, load_workflow
from podium.cli.output import EXIT_USAGE, error_console, report_error
from podium.cli.run import DocsOption, StoreOption, TeamOption

__all__ = ["mcp_command"]

_TOKEN_VARIABLE = "PODIUM_TOKEN"


def mcp_command(
    workflows: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[WORKFLOW]...",
            help="Workflow files the `run_workflow` tool may run (by their names).",
            show_default=False,
        ),
    ] = None,
    team: TeamOption = None,
    docs: DocsOption = None,
    store: StoreOption = None,
    model: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Run every agent on this model (`scripted` answers offline, for a demo).",
            show_default=False,
        ),
    ] = None,
    http: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio; every "
            f"request must carry `Authorization: Bearer TOKEN`, TOKEN from ${_TOKEN_VARIABLE}.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve podium to MCP hosts: run workflows and goals, read runs, decide approvals.

    Tools: run_workflow, run_goal (progress notifications as tasks end), list_runs,
    list_approvals, approve, deny. Resources: podium://runs and podium://runs/{run_id}.
    Speaks MCP on standard input and output unless --http is given.
    """
    try:
        from podium.protocols.mcp.server import McpServing, serve_http, serve_stdio
    except ImportError as exc:
        raise typer.Exit(report_error(ConfigError(str(exc)))) from None
    try:
        named = {load_workflow(path).name: path.resolve() for path in workflows or []}
    except ConfigError as error:
        raise typer.Exit(report_error(error)) from None
    serving = McpServing(
        workflows=named,
        team=team.resolve() if team else None,
        store=store,
        model=model,
        docs=docs.resolve() if docs else None,
    )
    if http is None:
        asyncio.run(serve_stdio(serving))
        return
    host, _, port = http.rpartition(":")
    token = os.environ.get(_TOKEN_VARIABLE, "")
    if not host or not port.isdigit() or not token:
        message = f"--http takes HOST:PORT (e.g. 127.0.0.1:8765) and needs ${_TOKEN_VARIABLE}"
        error_console().print(Text(message, style="red"))
        raise typer.Exit(EXIT_USAGE)
    serve_http(serving, host=host, port=int(port), token=token)
