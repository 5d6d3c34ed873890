"""``podium serve``: the HTTP server and dashboard over the store the CLI uses.

It needs the ``server`` extra. The address is bound here, before anything else, so the URL
printed is the one that answers (``--port 0`` picks a free port).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

import podium
from podium import ConfigError
from podium.cli.output import EXIT_FAILED, error_console, report_error, stdout_console
from podium.cli.runs import StoreOption

__all__ = ["serve_command"]


def serve_command(
    *,
    host: Annotated[
        str, typer.Option(metavar="ADDRESS", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, metavar="PORT", help="Port (0: any free one).")
    ] = 8700,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="PODIUM_TOKEN",
            metavar="TOKEN",
            help="The bearer token clients must send (default: $PODIUM_TOKEN, else a random "
            "one, printed). Required to listen on an address other than loopback.",
            show_default=False,
        ),
    ] = None,
    store: StoreOption = None,
    log_level: Annotated[
        str, typer.Option(metavar="LEVEL", help="debug, info, warning or error.")
    ] = "info",
) -> None:
    """Serve the REST API (/v1, described at /v1/openapi.json) and the dashboard until Ctrl-C.

    Runs started, resumed or approved from the API execute in this process; stopping it
    records them cancelled, and they can be resumed later. Prints the dashboard's URL with
    the token.
    """
    try:
        from podium.server import ServerConfig, check_bind, new_token, serve
    except ImportError as exc:
        error_console().print(Text(str(exc), style="red"))
        raise typer.Exit(EXIT_FAILED) from None
    try:
        check_bind(host, has_token=bool(token))
        sock = _bind(host, port)
    except ConfigError as error:
        raise typer.Exit(report_error(error)) from None
    chosen = token or new_token()
    _announce(sock, chosen, store or podium.default_store(), is_generated=not token)
    serve(ServerConfig(token=chosen, store=store), sock, log_level=log_level.lower())


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``.

    Raises:
        ConfigError: the address cannot be bound (in use, not of this machine).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host.strip("[]"), port), family=family, backlog=512)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _announce(sock: socket.socket, token: str, store: str | Path, *, is_generated: bool) -> None:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    out = stdout_console()
    out.print(Text(f"podium is serving {store}"), soft_wrap=True)
    out.print(Text(f"dashboard: {base}/#token={token}"), soft_wrap=True)
    out.print(Text(f"API:       {base}/v1 (OpenAPI: {base}/v1/openapi.json)"), soft_wrap=True)
    how = (
        "generated for this run; pass --token or PODIUM_TOKEN to keep one"
        if is_generated
        else "as given"
    )
    out.print(Text(f"token:     {token}  ({how})"), soft_wrap=True)
