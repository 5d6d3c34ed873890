"""SqliteStore: the default store, every run's event log in one SQLite file (or in memory).

Layout: ``events`` holds one row per event (``run_id``, ``seq``, ``kind``, ``schema_version``,
``at``, JSON ``body``); ``runs`` holds one row per run, written with its ``run_started`` event
in the same transaction, to order ``list_runs``; ``meta`` holds the layout version.

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
import sqlite3
import threading
from collections.abc import Generator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Literal, Self

from pydantic import ValidationError

from podium.errors import StoreError
from podium.event import SCHEMA_VERSION, Event, check_schema_version, dump_event, load_event
from podium.ids import RunId
from podium.run import RunSummary, project, summarize

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
)
STORE_SCHEMA_VERSION: Final = len(_MIGRATIONS)
"""Version of the table layout (``meta.schema_version``); each entry of ``_MIGRATIONS`` adds 1.

1: events, runs and meta tables.
"""

_BUSY_TIMEOUT: Final = timedelta(seconds=5)
_INSERT_EVENT: Final = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)"
_INSERT_RUN: Final = "INSERT OR IGNORE INTO runs VALUES (?, ?, ?)"
_SELECT_EVENTS: Final = (
    "SELECT seq, schema_version, body FROM events WHERE run_id = ? AND seq > ? ORDER BY seq"
)
_DELETE_EVENTS: Final = "DELETE FROM events WHERE run_id = ?"
_DELETE_RUN: Final = "DELETE FROM runs WHERE run_id = ?"
_SELECT_RUNS: Final = "SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?"


class SqliteStore:
    """Run event logs in a SQLite database; the default ``Store``.

    Args:
        path: the database file, created with its parent directories if missing;
            ``":memory:"`` keeps everything in this process only.
        durability: ``"normal"``: a committed event survives the process being killed, not a
            power loss; ``"full"``: it survives a power loss too (each append waits for fsync).

    Raises:
        StoreError: the database cannot be opened, or was written by a newer podium.
    """

    def __init__(
        self, path: str | Path = ":memory:", *, durability: Literal["normal", "full"] = "normal"
    ) -> None:
        self._path = str(path)
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

    async def list_runs(self, *, limit: int = 50) -> list[RunSummary]:
        """Summaries of the ``limit`` most recently started runs, newest first.

        Raises:
            StoreError: SQLite failed or a stored event cannot be read.
        """
        async with self._lock:
            with self._using("list runs") as conn:
                ids = [RunId(row[0]) for row in conn.execute(_SELECT_RUNS, (limit,))]
                return [summarize(project(i, self._read_now(conn, i, 0))) for i in ids]

    async def delete_run(self, run_id: RunId) -> bool:
        """Delete the events and the ``runs`` row of ``run_id`` in one transaction.

        Returns:
            Whether the store held any of it.

        Raises:
            StoreError: SQLite failed (nothing is deleted).
        """
        async with self._lock:
            if self._durability == "full":
                return await asyncio.to_thread(self._delete_now, run_id)
            return self._delete_now(run_id)

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
        with self._using(f"append to run {run_id}") as conn, _transaction(conn):
            expected = self._next_seq.get(run_id)
            if expected is None:
                row = conn.execute("SELECT max(seq) FROM events WHERE run_id = ?", (run_id,))
                expected = (row.fetchone()[0] or 0) + 1
            for event in events:
                if event.seq != expected:
                    raise StoreError(f"run {run_id}: expected seq {expected}, got {event.seq}")
                if event.run_id != run_id:
                    msg = f"run {run_id}: event {event.seq} belongs to run {event.run_id}"
                    raise StoreError(msg)
                expected += 1
            conn.executemany(_INSERT_EVENT, _event_rows(events))
            for event in events:
                if event.kind == "run_started":
                    conn.execute(_INSERT_RUN, (run_id, _utc_text(event.at), event.workflow))
        # Known only once committed; another writer of the same run would hit the primary key.
        self._next_seq[run_id] = expected

    def _delete_now(self, run_id: RunId) -> bool:
        with self._using(f"delete run {run_id}") as conn, _transaction(conn):
            events = conn.execute(_DELETE_EVENTS, (run_id,)).rowcount
            runs = conn.execute(_DELETE_RUN, (run_id,)).rowcount
        self._next_seq.pop(run_id, None)
        return events + runs > 0

    def _read_now(self, conn: sqlite3.Connection, run_id: RunId, after_seq: int) -> list[Event]:
        rows = conn.execute(_SELECT_EVENTS, (run_id, after_seq)).fetchall()
        return [self._load(run_id, seq, version, body) for seq, version, body in rows]

    def _load(self, run_id: RunId, seq: int, version: int, body: str | bytes) -> Event:
        where = f"run {run_id} event {seq}"
        check_schema_version(version, where=where)
        try:
            event = load_event(body)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            msg = f"sqlite store {self._path}: {where} does not parse: {first['msg']}"
            raise StoreError(msg) from exc
        if event.seq != seq or event.run_id != run_id:
            msg = f"sqlite store {self._path}: {where} holds event {event.seq} of {event.run_id}"
            raise StoreError(msg)
        return event


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
    rows = []
    at, text = None, ""
    for event in events:
        if event.at != at:  # a batch mostly shares one timestamp
            at, text = event.at, _utc_text(event.at)
        body = dump_event(event).decode()
        rows.append((event.run_id, event.seq, event.kind, SCHEMA_VERSION, text, body))
    return rows


def _utc_text(at: datetime) -> str:
    """ISO text in UTC with microseconds, so text order is time order (naive means UTC)."""
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return aware.isoformat(timespec="microseconds")
