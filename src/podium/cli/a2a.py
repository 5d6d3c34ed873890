"""``podium a2a``: serve the team and workflows as A2A agents, behind a bearer token."""

from __future__ import annotations

from typing import Annotated

import typer

from podium import ConfigError
from podium.cli.options import DocsOption, StoreOption, TeamOption
from podium.cli.output import report_error
from podium.cli.serving import ModelOption, WorkflowsArgument, listen_address, served

__all__ = ["a2a_command"]


def a2a_command(
    workflows: WorkflowsArgument = None,
    http: Annotated[
        str,
        typer.Option(metavar="HOST:PORT", help="Where to listen (http://HOST:PORT/agents/...)."),
    ] = "127.0.0.1:8766",
    public_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="The base URL clients reach this server at, for the agent cards. "
            "Default: http://HOST:PORT.",
            show_default=False,
        ),
    ] = None,
    team: TeamOption = None,
    docs: DocsOption = None,
    store: StoreOption = None,
    model: ModelOption = None,
) -> None:
    """Serve the team (agent `team`, for goals) and each workflow as A2A agents.

    Cards at /agents/NAME/.well-known/agent-card.json; JSON-RPC with streaming at
    /agents/NAME/. Every other request needs `Authorization: Bearer TOKEN`, TOKEN from
    $PODIUM_TOKEN. A run waiting for approval is an input-required task.
    """
    try:
        import uvicorn

        from podium.protocols.a2a.server import A2aServing, build_app
    except ImportError as exc:
        raise typer.Exit(report_error(ConfigError(str(exc)))) from None
    host, port, token = listen_address(http)
    serving = A2aServing(
        base_url=public_url or f"http://{host}:{port}",
        token=token,
        workflows=served(workflows),
        team=team.resolve() if team else None,
        store=store,
        model=model,
        docs=docs.resolve() if docs else None,
    )
    try:
        app = build_app(serving)
    except ConfigError as error:
        raise typer.Exit(report_error(error)) from None
    uvicorn.run(app, host=host, port=port, log_level="warning")
