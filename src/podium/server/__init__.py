"""podium's HTTP server: a REST API under ``/v1``, server-sent event streams, and the dashboard.

``podium serve`` starts it over the same store the CLI uses; ``create_app`` builds the ASGI
app for tests or for another ASGI server. It needs the ``server`` extra (FastAPI, uvicorn,
sse-starlette) and stands on podium's public API only (``import podium``): import-linter
checks that it reaches no internal module.

Layout: ``app`` builds the app and owns its lifespan; ``auth`` checks bearer tokens;
``problem`` turns errors into RFC 9457 problem details; ``payload`` holds the request and
response bodies; ``changes`` tells live streams that a run's log grew; ``launcher`` executes
the runs started from the API (the seam where workers of a distributed engine can take over);
``deadline_timer`` applies the timeouts of waiting runs (approvals, signals) on time;
``routes/`` holds one module per resource; ``static/`` the dashboard (plain ES modules,
vendored libraries, no build step).
"""

try:
    import fastapi  # noqa: F401  # pyright: ignore[reportUnusedImport] - fail here, naming the extra
    import sse_starlette  # noqa: F401  # pyright: ignore[reportUnusedImport]
    import uvicorn  # noqa: F401  # pyright: ignore[reportUnusedImport]
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'podium\'s server needs the "server" extra: pip install "podium[server]"'
    ) from exc

from podium.server.app import create_app
from podium.server.auth import check_bind, new_token
from podium.server.config import ServerConfig
from podium.server.serve import serve

__all__ = ["ServerConfig", "check_bind", "create_app", "new_token", "serve"]
