"""Where the default store lives, and how a ``store=`` argument becomes an open store.

A store is named by a SQLite file path or by a PostgreSQL URL (``postgresql://host/db``,
optionally ``?schema=name``); ``PODIUM_STORE`` may hold either. The PostgreSQL store comes
with the ``postgres`` extra and is imported only when a URL names it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import platformdirs

from podium.errors import ConfigError
from podium.stores.base import Store
from podium.stores.sqlite import SqliteStore
from podium.stores.url import is_database_url

__all__ = ["StoreArg", "default_store", "default_store_path", "opened_store", "store_exists"]

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


StoreArg = Store | str | os.PathLike[str] | None
"""What the public functions take as ``store=``: a ``Store``, the path of a SQLite file, a
PostgreSQL URL (``postgresql://...``), or None for the default (``default_store``)."""


@asynccontextmanager
async def opened_store(store: StoreArg) -> AsyncIterator[Store]:
    """The store ``store`` names, open for the duration of the block.

    A ``Store`` object is used as it is and left open (its owner closes it); a path, a URL, or
    None for ``default_store()``, opens a ``SqliteStore`` or a ``PostgresStore`` that is
    closed when the block ends.

    Args:
        store: a ``Store``, a SQLite file path, a PostgreSQL URL, or None.

    Yields:
        The open store.

    Raises:
        ConfigError: a URL names the store, but the ``postgres`` extra is not installed.
        StoreError: the store cannot be opened.
    """
    if store is not None and not isinstance(store, str | os.PathLike):
        yield store
        return
    location = default_store() if store is None else store
    if isinstance(location, str) and is_database_url(location):
        shared = _postgres_store(location)
        try:
            yield shared
        finally:
            await shared.aclose()
        return
    async with SqliteStore(Path(location)) as opened:
        yield opened


def _postgres_store(url: str) -> Store:
    """A ``PostgresStore`` for ``url``, imported only now (it needs the ``postgres`` extra).

    Raises:
        ConfigError: the extra is not installed.
    """
    try:
        from podium.stores.postgres import PostgresStore
    except ImportError as exc:
        msg = f"{exc}; or name a SQLite file as the store instead of {url.split('://')[0]}://"
        raise ConfigError(msg) from exc
    return PostgresStore(url)
