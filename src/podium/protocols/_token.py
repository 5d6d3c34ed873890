"""The bearer token podium's protocol servers (``podium mcp --http``, ``podium a2a``) require."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["TOKEN_VARIABLE", "bearer_guard"]

TOKEN_VARIABLE = "PODIUM_TOKEN"
"""The environment variable the servers read their token from."""

_REFUSAL = b'{"error": "a bearer token is required (Authorization: Bearer TOKEN)"}'


def bearer_guard(
    app: ASGIApp, token: str, *, is_public: Callable[[str], bool] = lambda path: False
) -> ASGIApp:
    """``app`` answering 401 to every HTTP request without ``Authorization: Bearer TOKEN``,
    except those whose path ``is_public`` (an A2A agent card)."""
    expected = f"Bearer {token}".encode()

    async def guard(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_public(str(scope["path"])):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, expected):
                headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]
                await send({"type": "http.response.start", "status": 401, "headers": headers})
                await send({"type": "http.response.body", "body": _REFUSAL})
                return
        await app(scope, receive, send)

    return guard
