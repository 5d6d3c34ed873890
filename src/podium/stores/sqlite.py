"""SqliteStore: the default store, every run's event log in one SQLite file (or in memory).

Layout: ``events`` holds one row per event (``run_id``, ``seq``, ``kind``, ``schema_version``,
``at``, JSON ``body``); ``runs`` holds one row per run, written with its ``run_started`` event
in the same transaction and updated with each event that changes its status, so ``list_runs``
finds runs by start time, id prefix and status from indexes; ``meta`` holds the layout version.

Why the stdlib ``sqlite3`` and not ``aiosqlite``: a commit in WAL mode with
``synchronous=NORMAL`` takes microseconds, while aiosqlite hops to a worker thread and back on
every call; we measured the hops to cost more than the work (``benchmarks/store.py`` prints
what this store sustains). So with ``durability="normal"`` the calls run directly on the event
loop thread. With ``durability="full"`` every commit waits for an fsync, which would stall the
loop, so ``append`` runs in ``asyncio.to_thread``.

Two processes may share a file (``podium runs`` while a run writes): WAL lets readers and the
writer proceed together, and a busy timeout makes a second writer wait instead of failing.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Generator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, Literal, Self

from podium.errors import AppendConflictError, StoreError
from podium.event import SCHEMA_VERSION, Event, RunStatus, dump_event
from podium.ids import RunId
from podium.run import RunSummary, project, summarize
from podium.stores.base import check_continues, load_stored
from podium.stores.location import default_store_path
from podium.stores.query import RunQuery, as_utc, status_after

__all__ = ["STORE_SCHEMA_VERSION", "SqliteStore"]

_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (  # 0 -> 1: first layout
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
        "CREATE TABLE events(run_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,"
        " schema_version INTEGER NOT NULL, at TEXT NOT NULL, body TEXT NOT NULL,"
        " PRIMARY KEY (run_id, seq)) WITHOUT ROWID",
        "CREATE TABLE runs(run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL,"
        " workflow TEXT NOT NULL)",
        "CREATE INDEX runs_by_start ON runs(started_at, run_id)",
    ),
    (  # 1 -> 2: the recorded status of each run, for list_runs(status=...)
        "ALTER TABLE runs ADD COLUMN status TEXT NOT NULL DEFAULT 'running'",
        "UPDATE runs SET status = coalesce((SELECT CASE kind WHEN 'run_completed'"
        " THEN json_extract(body, '$.status') ELSE 'running' END FROM events"
        " WHERE events.run_id = runs.run_id"
        " AND kind IN ('run_started', 'run_resumed', 'run_completed')"
        " ORDER BY seq DESC LIMIT 1), 'running')",
        "CREATE INDEX runs_by_status ON runs(status, started_at, run_id)",
    ),
)
STORE_SCHEMA_VERSION: Final = len(_MIGRATIONS)
"""Version of the table layout (``meta.schema_version``); each entry of ``_MIGRATIONS`` adds 1.

1: events, runs and meta tables.
2: ``runs.status``, the status the log last recorded, indexed.
"""

_BUSY_TIMEOUT: Final = timedelta(seconds=5)
_INSERT_EVENT: Final = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)"
_INSERT_RUN: Final = "INSERT OR IGNORE INTO runs(run_id, started_at, workflow) VALUES (?, ?, ?)"
_UPDATE_STATUS: Final = "UPDATE runs SET status = ? WHERE run_id = ?"
_SELECT_EVENTS: Final = (
    "SELECT seq, schema_version, body FROM events WHERE run_id = ? AND seq > ? ORDER BY seq"
)
_DELETE_EVENTS: Final = "DELETE FROM events WHERE run_id = ?"
_DELETE_RUN: Final = "DELETE FROM runs WHERE run_id = ?"
_RUN_KINDS: Final = frozenset({"run_started", "run_resumed", "run_completed"})
"""The kinds that change a run's ``runs`` row (``status_after``)."""


class SqliteStore:
    """Run event logs in a SQLite database; the default ``Store``.

    Args:
        path: the database file, created with its parent directories if missing;
            ``":memory:"`` keeps everything in this process only. None (the default) is the
            file ``default_store_path()`` names, the same one ``podium.run`` and the CLI use
            when given no store.
        durability: ``"normal"``: a committed event survives the process being killed, not a
            power loss; ``"full"``: it survives a power loss too (each append waits for fsync).

    Raises:
        StoreError: the database cannot be opened, or was written by a newer podium.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        durability: Literal["normal", "full"] = "normal",
    ) -> None:
        self._path = str(default_store_path() if path is None else path)
        self._durability = durability
        self._next_seq: dict[RunId, int] = {}
        """Next seq of the runs this store appended to (saves a query per append)."""
        self._lock = asyncio.Lock()
        # The asyncio lock keeps one call at a time without blocking the loop; the thread lock
        # also covers an append cancelled while its worker thread is still committing.
        self._mutex = threading.Lock()
        self._conn: sqlite3.Connection | None = self._open()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def append(self, run_id: RunId, events: Sequence[Event]) -> None:
        """Append ``events`` to the log of ``run_id`` in one transaction.

        Raises:
            StoreError: the events do not continue the run's ``seq`` (nothing is stored), or
                SQLite failed.
        """
        if not events:
            return
        async with self._lock:
            if self._durability == "full":
                await asyncio.to_thread(self._append_now, run_id, tuple(events))
            else:
                self._append_now(run_id, events)

    async def read(self, run_id: RunId, *, after_seq: int = 0) -> list[Event]:
        """The events of ``run_id`` with ``seq > after_seq``, in order; ``[]`` if unknown.

        Raises:
            StoreError: a stored event is newer than this podium or does not parse.
        """
        async with self._lock:
            with self._using(f"read run {run_id}") as conn:
                return self._read_now(conn, run_id, after_seq)

    async def list_runs(
        self,
        *,
        limit: int = 50,
        prefix: str = "",
        since: datetime | None = None,
        before: datetime | None = None,
        status: RunStatus | None = None,
    ) -> list[RunSummary]:
        """Summaries of the matching runs, newest first (the filters: ``Store.list_runs``).

        Raises:
            StoreError: SQLite failed or a stored event cannot be read.
        """
        query = RunQuery(limit=limit, prefix=prefix, since=since, before=before, status=status)
        sql, params = query.select_ids("?", _utc_text)
        async with self._lock:
            with self._using("list runs") as conn:
                ids = [RunId(row[0]) for row in conn.execute(sql, params)]
                return [summarize(project(i, self._read_now(conn, i, 0))) for i in ids]

    async def delete_run(self, run_id: RunId, *, if_last_seq: int | None = None) -> bool:
        """Delete the events and the ``runs`` row of ``run_id`` in one transaction.

        Args:
            run_id: the run to delete.
            if_last_seq: delete only if the log still ends at this ``seq``, checked in the
                deleting transaction: a run that another process resumed (or appended to)
                since the caller looked is kept.

        Returns:
            Whether anything was deleted.

        Raises:
            StoreError: SQLite failed (nothing is deleted).
        """
        async with self._lock:
            if self._durability == "full":
                return await asyncio.to_thread(self._delete_now, run_id, if_last_seq)
            return self._delete_now(run_id, if_last_seq)

    async def aclose(self) -> None:
        """Close the database; safe to call twice."""
        async with self._lock:
            with self._mutex:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

    def _open(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = None
        try:
            if self._path != ":memory:":
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self._path,
                timeout=_BUSY_TIMEOUT.total_seconds(),
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # "full" appends run in a worker thread
            )
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._durability.upper()}")
            self._migrate(conn)
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.Error | OSError):
                raise StoreError(f"sqlite store {self._path}: cannot open: {exc}") from exc
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        if self._check_version(conn) == STORE_SCHEMA_VERSION:
            return
        with _transaction(conn):  # re-read: another process may have migrated meanwhile
            version = self._check_version(conn)
            for steps in _MIGRATIONS[version:]:
                for statement in steps:
                    conn.execute(statement)
            conn.execute("REPLACE INTO meta VALUES ('schema_version', ?)", (STORE_SCHEMA_VERSION,))

    def _check_version(self, conn: sqlite3.Connection) -> int:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
            return 0
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = 0 if row is None else int(row[0])
        if version > STORE_SCHEMA_VERSION:
            msg = (
                f"sqlite store {self._path}: database schema version {version} is newer than "
                f"this podium knows ({STORE_SCHEMA_VERSION}): upgrade podium to open it"
            )
            raise StoreError(msg)
        return version

    @contextmanager
    def _using(self, what: str) -> Generator[sqlite3.Connection, None, None]:
        """Hold the connection exclusively; map SQLite errors to ``StoreError``."""
        with self._mutex:
            if self._conn is None:
                raise StoreError(f"sqlite store {self._path}: cannot {what}: the store is closed")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite store {self._path}: cannot {what}: {exc}") from exc

    def _append_now(self, run_id: RunId, events: Sequence[Event]) -> None:
        # What ``_using`` and ``_transaction`` do, written out: every append comes here, and
        # two generator context managers cost more than the rest of the Python around SQLite.
        with self._mutex:
            conn = self._conn
            if conn is None:
                what = f"sqlite store {self._path}: cannot append to run {run_id}"
                raise StoreError(f"{what}: the store is closed")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    expected = self._insert(conn, run_id, events)
                    conn.commit()
                except BaseException:
                    conn.rollback()
                    raise
            except sqlite3.Error as exc:
                msg = f"sqlite store {self._path}: cannot append to run {run_id}: {exc}"
                raise StoreError(msg) from exc
        # Known only once committed; another writer of the same run would hit the primary key.
        self._next_seq[run_id] = expected

    def _insert(self, conn: sqlite3.Connection, run_id: RunId, events: Sequence[Event]) -> int:
        """Insert ``events`` in the open transaction; the ``seq`` that comes next."""
        expected = self._next_seq.get(run_id)
        if expected is None:
            row = conn.execute("SELECT max(seq) FROM events WHERE run_id = ?", (run_id,))
            expected = (row.fetchone()[0] or 0) + 1
        try:
            expected = check_continues(run_id, expected, events)
            conn.executemany(_INSERT_EVENT, _event_rows(events))
        except AppendConflictError:
            self._next_seq.pop(run_id, None)  # another process appended since we cached
            raise
        except sqlite3.IntegrityError as exc:  # the same, seen by the primary key
            self._next_seq.pop(run_id, None)
            msg = f"run {run_id}: another writer appended event {events[0].seq} first"
            raise AppendConflictError(msg) from exc
        self._record_run(conn, run_id, events)
        return expected

    def _record_run(self, conn: sqlite3.Connection, run_id: RunId, events: Sequence[Event]) -> None:
        """Keep the ``runs`` row in step: created by ``run_started``, its status by the last
        event that sets one (most batches hold none: task events)."""
        status = None
        for event in events:
            if event.kind in _RUN_KINDS:
                if event.kind == "run_started":
                    conn.execute(_INSERT_RUN, (run_id, _utc_text(event.at), event.workflow))
                status = status_after(event) or status
        if status is not None:
            conn.execute(_UPDATE_STATUS, (status, run_id))

    def _delete_now(self, run_id: RunId, if_last_seq: int | None) -> bool:
        with self._using(f"delete run {run_id}") as conn, _transaction(conn):
            if if_last_seq is not None:
                row = conn.execute("SELECT max(seq) FROM events WHERE run_id = ?", (run_id,))
                if (row.fetchone()[0] or 0) != if_last_seq:
                    return False
            events = conn.execute(_DELETE_EVENTS, (run_id,)).rowcount
            runs = conn.execute(_DELETE_RUN, (run_id,)).rowcount
        self._next_seq.pop(run_id, None)
        return events + runs > 0

    def _read_now(self, conn: sqlite3.Connection, run_id: RunId, after_seq: int) -> list[Event]:
        rows = conn.execute(_SELECT_EVENTS, (run_id, after_seq)).fetchall()
        store = f"sqlite store {self._path}"
        return [
            load_stored(store, run_id=run_id, seq=seq, version=version, body=body)
            for seq, version, body in rows
        ]


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Generator[None, None, None]:
    """One write transaction: committed if the block ends, rolled back if it raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def _event_rows(events: Sequence[Event]) -> list[tuple[str, int, str, int, str, str]]:
    rows: list[tuple[str, int, str, int, str, str]] = []
    at, text = None, ""
    for event in events:
        if event.at != at:  # a batch mostly shares one timestamp
            at, text = event.at, _utc_text(event.at)
        body = dump_event(event).decode()
        rows.append((event.run_id, event.seq, event.kind, SCHEMA_VERSION, text, body))
    return rows


def _utc_text(at: datetime) -> str:
    """ISO text in UTC with microseconds, so text order is time order (naive means UTC)."""
    return as_utc(at).isoformat(timespec="microseconds")
