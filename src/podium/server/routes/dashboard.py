"""The dashboard: ``/`` serves its page, ``/static`` its scripts, styles and vendored libraries.

They hold no data (the page asks the API for everything, with the token), so they are served
without one. Files are read from the installed package: there is no build step and nothing
is fetched from elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC", "router", "static_files"]

STATIC: Final = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)

_NO_STORE: Final = {"Cache-Control": "no-cache"}


@router.get("/")
async def index() -> FileResponse:
    """The dashboard's single page (it routes by the URL fragment: ``#/runs/<id>``)."""
    return FileResponse(STATIC / "index.html", headers=_NO_STORE)


def static_files() -> StaticFiles:
    """The app mounted at ``/static``."""
    return StaticFiles(directory=STATIC)
