"""Where the default store lives on disk."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["default_store_path"]

_ENV_VAR = "PODIUM_STORE"
_PROJECT_DIR = ".podium"
_FILE_NAME = "podium.db"


def default_store_path() -> Path:
    """The SQLite file podium uses when no store is given.

    The first rule that applies wins:

    1. the ``PODIUM_STORE`` environment variable, if set and not empty (``~`` is expanded);
    2. ``.podium/podium.db`` in the nearest directory, from the current one upwards, that
       holds a ``.podium/`` directory (a project keeps its runs beside its workflows);
    3. ``podium.db`` in the user's data directory (``platformdirs.user_data_path("podium")``,
       e.g. ``~/.local/share/podium`` on Linux).

    Nothing is created here; ``SqliteStore`` creates the file and its directories on open.

    Returns:
        The path of the database file.
    """
    configured = os.environ.get(_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / _PROJECT_DIR).is_dir():
            return folder / _PROJECT_DIR / _FILE_NAME
    return platformdirs.user_data_path("podium", appauthor=False) / _FILE_NAME
