"""The default SQLite store, kept open by the process between calls.

Opening a SQLite file (connect, pragmas, the layout check) and closing it (which checkpoints
the WAL and syncs it) cost milliseconds, more than a short run's own writes. So the file that
``podium.run`` and the other public functions use when given no store is opened once per
process and closed when the interpreter exits; a run neither opens nor closes it.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from podium.stores.sqlite import SqliteStore

__all__ = ["shared_store"]


@dataclass(slots=True, kw_only=True)
class _Shared:
    """The store ``shared_store`` keeps open, and who uses it now."""

    store: SqliteStore
    path: str
    pid: int
    file: tuple[int, int] | None
    users: int = 0
    is_current: bool = True


_shared_lock: Final = threading.Lock()
_shared: _Shared | None = None
_inherited: Final[list[SqliteStore]] = []
"""Stores a parent process opened before it forked this one: never used or closed here."""


@asynccontextmanager
async def shared_store(path: str | os.PathLike[str]) -> AsyncGenerator[SqliteStore]:
    """The ``SqliteStore`` of the file ``path`` that this process keeps open between calls.

    It serves callers on any event loop and any thread, several at once. One is kept at a
    time: another path (a changed ``PODIUM_STORE``), the file deleted or replaced since, or a
    forked child opens a new one, and the one it replaces closes once its last user is done.

    Args:
        path: the database file.

    Yields:
        The open store; the caller must not close it.

    Raises:
        StoreError: the file cannot be opened.
    """
    entry, retired = _use_shared(str(path))
    if retired is not None:
        await retired.aclose()
    try:
        yield entry.store
    finally:
        with _shared_lock:
            entry.users -= 1
            is_retired = entry.users == 0 and not entry.is_current
        if is_retired:
            await entry.store.aclose()


def _use_shared(path: str) -> tuple[_Shared, SqliteStore | None]:
    """The entry to use for ``path``, and the store it replaced if nobody uses that now."""
    global _shared
    with _shared_lock:
        current, pid = _shared, os.getpid()
        if current is not None and current.pid != pid:
            _inherited.append(current.store)  # closing it here could disturb the parent's
            current = _shared = None
        if current is not None and current.path == path and current.file == _file_id(path):
            current.users += 1
            return current, None
        entry = _Shared(store=SqliteStore(path), path=path, pid=pid, file=_file_id(path), users=1)
        _shared, retired = entry, None
        if current is not None:
            current.is_current = False
            retired = current.store if current.users == 0 else None
        return entry, retired


def _close_shared() -> None:
    """At interpreter exit: close the shared store once the calls given before are done."""
    with _shared_lock:
        entry = _shared
    if entry is not None and entry.pid == os.getpid():
        # No event loop runs any more to await aclose() on.
        worker = entry.store._close_soon()  # pyright: ignore[reportPrivateUsage]
        if worker is not None:
            worker.join()


atexit.register(_close_shared)


def _file_id(path: str) -> tuple[int, int] | None:
    """What tells the file at ``path`` from one that replaced it; None where there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino
