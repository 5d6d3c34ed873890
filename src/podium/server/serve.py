"""``serve``: run the server with uvicorn until it is stopped (what ``podium serve`` calls)."""

from __future__ import annotations

import logging
import socket

import uvicorn

from podium.server.app import create_app
from podium.server.config import ServerConfig

__all__ = ["serve"]


def serve(config: ServerConfig, sock: socket.socket, *, log_level: str = "info") -> None:
    """Serve on the bound ``sock`` until SIGINT or SIGTERM; runs it executes are cancelled
    (recorded cancelled, resumable) as it stops.

    The access log is uvicorn's: method, path and status, never headers, so the token is not
    in it (tokens only travel in the ``Authorization`` header).
    """
    app = create_app(config)
    settings = uvicorn.Config(
        app,
        log_level=log_level,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    logging.getLogger("podium").setLevel(log_level.upper())
    uvicorn.Server(settings).run(sockets=[sock])
