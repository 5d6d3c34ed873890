"""Bearer-token authentication, and the rule that a server reachable from elsewhere has a token.

Every route but ``GET /v1/health`` needs ``Authorization: Bearer <token>``. The token is
compared in constant time and never logged: a refused request is logged with its method,
path and client only. The dashboard's page and scripts hold no data and are served without a
token; the page asks for it (or reads it from the ``#token=`` fragment of the URL that
``podium serve`` prints, which browsers never send to the server).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from typing import Annotated, Final

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from podium import ConfigError

__all__ = ["Unauthorized", "check_bind", "is_loopback", "new_token", "require_token"]

logger = logging.getLogger(__name__)

_TOKEN_BYTES: Final = 32
_bearer = HTTPBearer(auto_error=False, description="The token `podium serve` printed.")


class Unauthorized(Exception):
    """The request carried no token, or a wrong one."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def new_token() -> str:
    """A random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(_TOKEN_BYTES)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address of this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, has_token: bool) -> None:
    """Refuse to listen beyond this machine without a token chosen by the user.

    Raises:
        ConfigError: ``host`` is not a loopback address and no token was given.
    """
    if not has_token and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host} without a token: anyone who can reach it could run "
            "and approve work. Give one with --token or PODIUM_TOKEN, or bind 127.0.0.1."
        )


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """FastAPI dependency: let the request through only with the server's token.

    Raises:
        Unauthorized: no bearer token, or not the server's.
    """
    expected: str = request.app.state.config.token
    given = credentials.credentials if credentials is not None else None
    if given is not None and secrets.compare_digest(given.encode(), expected.encode()):
        return
    client = request.client.host if request.client else "?"
    why = "no bearer token" if given is None else "a wrong token"
    logger.warning("refused %s %s from %s: %s", request.method, request.url.path, client, why)
    raise Unauthorized(f"this route needs the server's token: the request carried {why}")
