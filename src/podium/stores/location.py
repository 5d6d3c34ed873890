"""Where the default store lives on disk, and how a ``store=`` argument becomes an open store."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import platformdirs

from podium.stores.base import Store
from podium.stores.sqlite import SqliteStore

__all__ = ["StoreArg", "default_store_path", "opened_store"]

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


StoreArg = Store | str | os.PathLike[str] | None
"""What the public functions take as ``store=``: a ``Store``, the path of a SQLite file, or
None for the default file (``default_store_path``)."""


@asynccontextmanager
async def opened_store(store: StoreArg) -> AsyncIterator[Store]:
    """The store ``store`` names, open for the duration of the block.

    A ``Store`` object is used as it is and left open (its owner closes it); a path, or None
    for ``default_store_path()``, opens a ``SqliteStore`` that is closed when the block ends.

    Args:
        store: a ``Store``, a SQLite file path, or None.

    Yields:
        The open store.

    Raises:
        StoreError: the SQLite file cannot be opened.
    """
    if store is not None and not isinstance(store, str | os.PathLike):
        yield store
        return
    async with SqliteStore(default_store_path() if store is None else Path(store)) as opened:
        yield opened
