"""SqliteStore: the default store, every run's event log in one SQLite file (or in memory).

Layout: ``events`` holds one row per event (``run_id``, ``seq``, ``kind``, ``schema_version``,
``at``, JSON ``body``); ``runs`` holds one row per run, written with its ``run_started`` event
in the same transaction and updated with each event that changes its status, so ``list_runs``
finds runs by start time, id prefix and status from indexes; ``meta`` holds the layout version.

Why the stdlib ``sqlite3`` and not ``aiosqlite``, and why the calls run on the event loop's
thread: a commit in WAL mode with ``synchronous=NORMAL`` takes tens of microseconds (two
writes to the WAL and a few file locks), less than a hop to a thread and back. We measured
one writer thread for the appends (issue 13, through ``podium.arun``): the chain of
``benchmarks/engine.py`` went from 0.23 to 0.33-0.37 ms per task, and the fan-out and the DAG
did not gain either, since the thread waits for the GIL while the loop works and each hop
costs the loop CPU too. So with ``durability="normal"`` every call runs right where it is
awaited, under a thread lock and no asyncio lock (a store serves callers on several event
loops: ``podium.run`` keeps one open across ``asyncio.run`` calls, ``stores.shared``). With
``durability="full"`` a commit waits for an fsync, which would stall the loop: every call then
runs, in the order given, on the store's own thread.

Two processes may share a file (``podium runs`` while a run writes): WAL lets readers and the
writer proceed together, and a busy timeout makes a second writer wait instead of failing.
"""

from __future__ import annotations

import asyncio
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Final, Literal, Self, TypeVar

from podium.errors import AppendConflictError, StoreError
from podium.event import SCHEMA_VERSION, Event, RunStatus, dump_event
from podium.ids import RunId
from podium.run import RunSummary, project, summarize
from podium.stores.base import check_continues, load_stored
from podium.stores.location import default_store_path
from podium.stores.query import RunQuery, as_utc, status_after

__all__ = ["STORE_SCHEMA_VERSION", "SqliteStore"]

T = TypeVar("T")

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
        self._mutex = threading.Lock()
        """Held by each call while it uses the connection (the loop's thread or the worker)."""
        self._conn: sqlite3.Connection | None = self._open()
        self._worker = _Worker(f"podium sqlite {self._path}") if durability == "full" else None
        """The thread that runs every call where a commit waits for the disk, else None."""

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
        if self._worker is not None:
            await self._worker.call(partial(self._append_now, run_id, tuple(events)))
        else:
            self._append_now(run_id, events)

    async def read(self, run_id: RunId, *, after_seq: int = 0) -> list[Event]:
        """The events of ``run_id`` with ``seq > after_seq``, in order; ``[]`` if unknown.

        Raises:
            StoreError: a stored event is newer than this podium or does not parse.
        """
        return await self._call(partial(self._read_using, run_id, after_seq))

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
        return await self._call(partial(self._list_now, sql, params))

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
        return await self._call(partial(self._delete_now, run_id, if_last_seq))

    async def aclose(self) -> None:
        """Close the database once the calls given before are done; safe to call twice."""
        await self._call(self._close_now)

    async def _call(self, call: Callable[[], T]) -> T:
        """``call()``: in the worker where it may wait for the disk, else right here (it
        takes microseconds, less than a hop to a thread and back)."""
        if self._worker is not None:
            return await self._worker.call(call)
        return call()

    def _close_now(self) -> None:
        with self._mutex:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        if self._worker is not None:
            self._worker.stop_soon()

    def _close_soon(self) -> threading.Thread | None:
        """Close without waiting, after the calls given before; the worker that does it."""
        if self._worker is None:
            self._close_now()
            return None
        self._worker.submit(self._close_now)
        return self._worker.thread

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

    def _read_using(self, run_id: RunId, after_seq: int) -> list[Event]:
        with self._using(f"read run {run_id}") as conn:
            return self._read_now(conn, run_id, after_seq)

    def _list_now(self, sql: str, params: Sequence[object]) -> list[RunSummary]:
        with self._using("list runs") as conn:
            ids = [RunId(row[0]) for row in conn.execute(sql, params)]
            return [summarize(project(i, self._read_now(conn, i, 0))) for i in ids]

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
    if at.tzinfo is UTC:  # what the clock gives: no conversion
        return at.isoformat(timespec="microseconds")
    return as_utc(at).isoformat(timespec="microseconds")


class _Worker:
    """A thread that runs calls one at a time, in the order given, for callers on any event
    loop. A call whose caller is cancelled still runs: it may be committing already. Once the
    thread is told to stop, calls run in the caller's thread (a closed store refuses them)."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._is_stopping = False
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.thread.start()

    async def call(self, call: Callable[[], T]) -> T:
        """``call()`` in the thread; its result or its exception."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            is_queued = not self._is_stopping
            if is_queued:
                self._calls.put(partial(_settle, call, loop, future))
        return await future if is_queued else call()

    def submit(self, call: Callable[[], object]) -> None:
        """Run ``call()`` in the thread after the calls given before, without waiting."""
        with self._lock:
            if not self._is_stopping:
                self._calls.put(call)
                return
        call()

    def stop_soon(self) -> None:
        """End the thread once the calls given before are done."""
        with self._lock:
            if not self._is_stopping:
                self._is_stopping = True
                self._calls.put(None)

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            call()


def _settle(
    call: Callable[[], T], loop: asyncio.AbstractEventLoop, future: asyncio.Future[T]
) -> None:
    """Run ``call`` and hand its outcome to ``future`` on its loop."""
    try:
        outcome = partial(_set_result, future, call())
    except Exception as exc:  # the caller's to handle
        outcome = partial(_set_exception, future, exc)
    with suppress(RuntimeError):  # the loop is closed: nobody waits for it
        loop.call_soon_threadsafe(outcome)


def _set_result(future: asyncio.Future[T], result: T) -> None:
    if not future.done():  # cancelled meanwhile
        future.set_result(result)


def _set_exception(future: asyncio.Future[T], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
