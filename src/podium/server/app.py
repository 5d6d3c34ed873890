"""``create_app``: the FastAPI app, its routes, its error answers and its lifespan.

The lifespan opens the store once, wraps it so live streams hear of each commit, and owns a
task group that bounds every run the server executes and the deadline timer: stopping the
server cancels them, and each run records itself cancelled (resumable later).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Final

from fastapi import Depends, FastAPI

import podium
from podium.server.auth import require_token
from podium.server.changes import Changes, WatchedStore
from podium.server.config import ServerConfig
from podium.server.deadline_timer import DeadlineTimer
from podium.server.launcher import LocalLauncher
from podium.server.problem import PROBLEM_RESPONSES, install_problem_handlers
from podium.server.routes import approvals, dashboard, events, metrics, runs, signals
from podium.server.run_list import RunList
from podium.server.services import Services

__all__ = ["create_app"]

_DESCRIPTION: Final = """Start, watch, approve and measure podium runs.

Every route but `GET /v1/health` needs `Authorization: Bearer <token>` (the token
`podium serve` printed); this schema is at `/v1/openapi.json`. Errors are problem details
(RFC 9457) whose `detail` is the CLI's message. Live views are server-sent event streams
that resume from an offset."""


def create_app(config: ServerConfig) -> FastAPI:
    """The server's ASGI app over ``config.store``.

    Args:
        config: the token, the store, the clock and the intervals.
    """
    app = FastAPI(
        title="podium",
        version=_version(),
        description=_DESCRIPTION,
        lifespan=_lifespan,
        openapi_url=None,  # served below, behind the token
        docs_url=None,  # Swagger UI loads from a CDN, and nothing outside the machine is reached
        redoc_url=None,
    )
    app.state.config = config
    install_problem_handlers(app)
    guarded = {"dependencies": [Depends(require_token)], "responses": PROBLEM_RESPONSES}
    for module in (runs, events, approvals, signals, metrics):
        app.include_router(module.router, **guarded)  # type: ignore[arg-type]  # FastAPI's loose kwargs
    app.include_router(dashboard.router)
    app.mount("/static", dashboard.static_files(), name="static")

    @app.get("/v1/health", tags=["health"], summary="Is the server up (no token needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/openapi.json", include_in_schema=False, dependencies=[Depends(require_token)])
    async def openapi() -> dict[str, object]:
        return app.openapi()

    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncGenerator[None]:
    config: ServerConfig = app.state.config
    changes = Changes()
    async with podium.opened_store(config.store) as opened, asyncio.TaskGroup() as group:
        launcher = LocalLauncher(group, start_timeout=config.start_timeout)
        store = WatchedStore(opened, changes)
        services = Services(
            config=config,
            store=store,
            changes=changes,
            launcher=launcher,
            runs=RunList(store, changes, config.poll_interval),
        )
        app.state.services = services
        timer = group.create_task(DeadlineTimer(services).run())
        try:
            yield
        finally:
            timer.cancel()
            launcher.cancel_all()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("podium")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"
