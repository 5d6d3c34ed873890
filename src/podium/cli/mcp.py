"""``podium mcp``: serve podium to MCP hosts, over stdio or streamable HTTP with a token."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from podium import ConfigError
from podium.cli.options import DocsOption, StoreOption, TeamOption
from podium.cli.output import report_error
from podium.cli.serving import (
    TOKEN_VARIABLE,
    ModelOption,
    WorkflowsArgument,
    listen_address,
    served,
)

__all__ = ["mcp_command"]


def mcp_command(
    workflows: WorkflowsArgument = None,
    team: TeamOption = None,
    docs: DocsOption = None,
    store: StoreOption = None,
    model: ModelOption = None,
    http: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio; every "
            f"request must carry `Authorization: Bearer TOKEN`, TOKEN from ${TOKEN_VARIABLE}.",
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
    serving = McpServing(
        workflows=served(workflows),
        team=team.resolve() if team else None,
        store=store,
        model=model,
        docs=docs.resolve() if docs else None,
    )
    if http is None:
        asyncio.run(serve_stdio(serving))
        return
    host, port, token = listen_address(http)
    serve_http(serving, host=host, port=port, token=token)
