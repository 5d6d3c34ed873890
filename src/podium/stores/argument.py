"""How a ``store=`` argument of the public API becomes an open store.

The PostgreSQL store comes with the ``postgres`` extra and is imported only when a URL names
it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path

from podium.errors import ConfigError
from podium.stores.base import Store
from podium.stores.location import default_store
from podium.stores.shared import shared_store
from podium.stores.sqlite import SqliteStore
from podium.stores.url import is_database_url

__all__ = ["StoreArg", "opened_store"]


StoreArg = Store | str | os.PathLike[str] | None
"""What the public functions take as ``store=``: a ``Store``, the path of a SQLite file, a
PostgreSQL URL (``postgresql://...``), or None for the default (``default_store``)."""


@asynccontextmanager
async def opened_store(store: StoreArg) -> AsyncGenerator[Store]:
    """The store ``store`` names, open for the duration of the block.

    A ``Store`` object is used as it is and left open (its owner closes it); a path or a URL
    opens a ``SqliteStore`` or a ``PostgresStore`` that is closed when the block ends. None is
    ``default_store()``: a URL there is opened and closed the same way, a SQLite file is the
    one this process keeps open (``stores.shared``), so a run neither opens nor closes it.

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
    if store is None:
        async with shared_store(location) as opened:
            yield opened
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
