"""Where the default store lives.

A store is named by a SQLite file path or by a PostgreSQL URL (``postgresql://host/db``,
optionally ``?schema=name``); ``PODIUM_STORE`` may hold either. How a ``store=`` argument
becomes an open store is ``stores.argument``.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from podium.stores.url import is_database_url

__all__ = ["default_store", "default_store_path", "store_exists"]

_ENV_VAR = "PODIUM_STORE"
_PROJECT_DIR = ".podium"
_FILE_NAME = "podium.db"


def default_store() -> str | Path:
    """The store podium uses when none is given: ``PODIUM_STORE`` if it holds a database URL,
    else the SQLite file ``default_store_path()``."""
    configured = os.environ.get(_ENV_VAR, "")
    return configured if is_database_url(configured) else default_store_path()


def store_exists(store: str | os.PathLike[str]) -> bool:
    """Whether ``store`` may hold runs already: a SQLite file that exists, or any database URL
    (asking the server would connect to it). Nothing is created."""
    return is_database_url(str(store)) or Path(store).exists()


def default_store_path() -> Path:
    """The SQLite file podium uses when no store is given.

    The first rule that applies wins:

    1. the ``PODIUM_STORE`` environment variable, if set and not empty (``~`` is expanded;
       a database URL there is used instead of a file: ``default_store``);
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
