"""PostgresStore: run event logs in PostgreSQL, shared by many processes and machines.

Layout, in its own schema (``podium`` unless told otherwise): ``events`` holds one row per
event (``run_id``, ``seq``, ``kind``, ``schema_version``, ``at``, JSON ``body`` as text, so a
log reads back byte for byte); ``runs`` holds one row per log: the last ``seq`` appended and,
once its ``run_started`` is in, its start, workflow and the status the log last recorded,
indexed for ``list_runs``; ``meta`` holds the layout version.

Appends from many processes are safe: an append locks its run's ``runs`` row (``INSERT ... ON
CONFLICT DO UPDATE ... RETURNING`` takes the lock and reads ``last_seq`` in one statement),
checks that its events continue the log, inserts them and moves ``last_seq``, all in one
transaction. A second writer of the same run waits for the first to commit and then finds the
seq taken: it gets a ``StoreError`` and nothing is stored, so no seq is lost or doubled.
Writers of different runs never wait for each other.

The URL may name the schema with a ``schema`` query parameter
(``postgresql://host/db?schema=team_a``), which this store strips before connecting; every
other part of it goes to libpq as it is.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Final, LiteralString, Self, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

try:
    import psycopg
    from psycopg import sql
    from psycopg.rows import TupleRow
    from psycopg_pool import AsyncConnectionPool, PoolTimeout
except ImportError as exc:  # pragma: no cover - only without the extra
    raise ImportError(
        'PostgresStore needs the "postgres" extra: pip install "podium[postgres]"'
    ) from exc
from podium.errors import ConfigError, StoreError
from podium.event import SCHEMA_VERSION, Event, RunStarted, RunStatus, dump_event
from podium.ids import RunId
from podium.run import RunSummary, project, summarize
from podium.stores.base import check_continues, load_stored
from podium.stores.query import RunQuery, as_utc, status_after
from podium.stores.url import is_database_url, without_password

__all__ = ["POSTGRES_SCHEMA_VERSION", "PostgresStore"]

_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (  # 0 -> 1: first layout
        "CREATE TABLE meta(key text PRIMARY KEY, value integer NOT NULL)",
        'CREATE TABLE runs(run_id text COLLATE "C" PRIMARY KEY, last_seq integer NOT NULL,'
        " started_at timestamptz, workflow text, status text NOT NULL DEFAULT 'running')",
        "CREATE INDEX runs_by_start ON runs(started_at, run_id) WHERE started_at IS NOT NULL",
        "CREATE INDEX runs_by_status ON runs(status, started_at, run_id)"
        " WHERE started_at IS NOT NULL",
        'CREATE TABLE events(run_id text COLLATE "C" NOT NULL, seq integer NOT NULL,'
        " kind text NOT NULL, schema_version integer NOT NULL, at timestamptz NOT NULL,"
        " body text NOT NULL, PRIMARY KEY (run_id, seq))",
    ),
)
POSTGRES_SCHEMA_VERSION: Final = len(_MIGRATIONS)
"""Version of the table layout (``meta.schema_version``); each entry of ``_MIGRATIONS`` adds 1.

1: events, runs and meta tables.
"""

_SCHEMA_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_CONNECT_TIMEOUT: Final = timedelta(seconds=10)
_MIGRATION_LOCK: Final = 0x706F6469756D  # "podium": one migration at a time per database

_LOCK_RUN: Final = (
    "INSERT INTO runs(run_id, last_seq) VALUES (%s, 0)"
    " ON CONFLICT (run_id) DO UPDATE SET last_seq = runs.last_seq RETURNING last_seq"
)
_INSERT_EVENT: Final = "INSERT INTO events VALUES (%s, %s, %s, %s, %s, %s)"
_UPDATE_RUN: Final = (
    "UPDATE runs SET last_seq = %s, started_at = coalesce(%s, started_at),"
    " workflow = coalesce(%s, workflow), status = coalesce(%s, status) WHERE run_id = %s"
)
_LOCK_LAST_SEQ: Final = "SELECT last_seq FROM runs WHERE run_id = %s FOR UPDATE"
_SELECT_EVENTS: Final = (
    "SELECT seq, schema_version, body FROM events WHERE run_id = %s AND seq > %s ORDER BY seq"
)
_SELECT_LOGS: Final = (
    "SELECT run_id, seq, schema_version, body FROM events"
    " WHERE run_id = ANY(%s) ORDER BY run_id, seq"
)
_DELETE_EVENTS: Final = "DELETE FROM events WHERE run_id = %s"
_DELETE_RUN: Final = "DELETE FROM runs WHERE run_id = %s"


class PostgresStore:
    """Run event logs in a PostgreSQL database; a ``Store`` many processes share.

    Connections are pooled and opened on first use; the tables are created then if missing.

    Args:
        url: a libpq connection URL (``postgresql://user@host:5432/db``), optionally with a
            ``schema`` query parameter; or a libpq key/value connection string.
        schema: the schema holding podium's tables (created if missing); overrides the URL's.
        max_connections: the most connections this store holds at once.

    Raises:
        ConfigError: the schema name is not a plain SQL identifier.
    """

    def __init__(self, url: str, *, schema: str | None = None, max_connections: int = 8) -> None:
        conninfo, url_schema = _split_schema(url)
        self._schema = schema or url_schema or "podium"
        if not _SCHEMA_NAME.fullmatch(self._schema):
            msg = (
                f"postgres store: schema {self._schema!r} is not a plain SQL identifier "
                "(letters, digits and _, not starting with a digit, at most 63)"
            )
            raise ConfigError(msg)
        self._where = f"postgres store {without_password(conninfo)} (schema {self._schema})"
        self._pool = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_connections,
            open=False,
            kwargs={"autocommit": True},
            configure=self._configure,
        )
        self._opening = asyncio.Lock()
        self._state: str = "new"
        """``new``, ``open`` or ``closed``."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def append(self, run_id: RunId, events: Sequence[Event]) -> None:
        """Append ``events`` to the log of ``run_id`` in one transaction.

        Raises:
            AppendConflictError: the events do not continue the run's ``seq`` (another
                writer appended first; nothing is stored).
            StoreError: PostgreSQL failed.
        """
        if not events:
            return
        async with self._connection(f"append to run {run_id}") as conn, conn.transaction():
            row = await (await conn.execute(_LOCK_RUN, (run_id,))).fetchone()
            assert row is not None  # RETURNING always yields the row
            last = check_continues(run_id, row[0] + 1, events) - 1
            async with conn.cursor() as cursor:
                await cursor.executemany(_INSERT_EVENT, [_event_row(e) for e in events])
            await conn.execute(_UPDATE_RUN, _run_update(run_id, last, events))

    async def read(self, run_id: RunId, *, after_seq: int = 0) -> list[Event]:
        """The events of ``run_id`` with ``seq > after_seq``, in order; ``[]`` if unknown.

        Raises:
            StoreError: a stored event is newer than this podium or does not parse, or
                PostgreSQL failed.
        """
        async with self._connection(f"read run {run_id}") as conn:
            rows = await (await conn.execute(_SELECT_EVENTS, (run_id, after_seq))).fetchall()
        return [self._load(run_id, seq, version, body) for seq, version, body in rows]

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
            StoreError: PostgreSQL failed or a stored event cannot be read.
        """
        query = RunQuery(limit=limit, prefix=prefix, since=since, before=before, status=status)
        statement, params = query.select_ids("%s", as_utc)
        async with self._connection("list runs") as conn:
            query_text = cast("LiteralString", statement)  # built from RunQuery's fixed parts
            ids = [RunId(r[0]) for r in await (await conn.execute(query_text, params)).fetchall()]
            rows = await (await conn.execute(_SELECT_LOGS, (ids,))).fetchall() if ids else []
        logs: dict[RunId, list[Event]] = {run_id: [] for run_id in ids}
        for run_id, seq, version, body in rows:
            logs[run_id].append(self._load(run_id, seq, version, body))
        return [summarize(project(run_id, logs[run_id])) for run_id in ids]

    async def delete_run(self, run_id: RunId, *, if_last_seq: int | None = None) -> bool:
        """Delete the events and the ``runs`` row of ``run_id`` in one transaction.

        Args:
            run_id: the run to delete.
            if_last_seq: delete only if the log still ends at this ``seq``; the run's row is
                locked as appends lock it, so a resume that appends meanwhile keeps it.

        Returns:
            Whether anything was deleted.

        Raises:
            StoreError: PostgreSQL failed (nothing is deleted).
        """
        async with self._connection(f"delete run {run_id}") as conn, conn.transaction():
            if if_last_seq is not None:
                row = await (await conn.execute(_LOCK_LAST_SEQ, (run_id,))).fetchone()
                if row is None or row[0] != if_last_seq:
                    return False
            runs = (await conn.execute(_DELETE_RUN, (run_id,))).rowcount
            events = (await conn.execute(_DELETE_EVENTS, (run_id,))).rowcount
        return runs + events > 0

    async def aclose(self) -> None:
        """Close every connection; safe to call twice."""
        async with self._opening:
            if self._state == "open":
                await self._pool.close()
            self._state = "closed"

    @asynccontextmanager
    async def _connection(self, what: str) -> AsyncGenerator[psycopg.AsyncConnection[TupleRow]]:
        """A pooled connection; PostgreSQL errors become ``StoreError`` naming ``what``."""
        await self._ensure_open()
        try:
            async with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:  # a psycopg.Error too: caught first to say why
            raise StoreError(f"{self._where}: cannot {what}: no connection: {exc}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"{self._where}: cannot {what}: {exc}") from exc

    async def _ensure_open(self) -> None:
        async with self._opening:
            if self._state == "closed":
                raise StoreError(f"{self._where}: the store is closed")
            if self._state == "open":
                return
            try:
                await self._pool.open(wait=True, timeout=_CONNECT_TIMEOUT.total_seconds())
                async with self._pool.connection() as conn, conn.transaction():
                    await self._migrate(conn)
            except (psycopg.Error, PoolTimeout) as exc:
                await self._pool.close()
                raise StoreError(f"{self._where}: cannot open: {exc}") from exc
            self._state = "open"

    async def _configure(self, conn: psycopg.AsyncConnection[TupleRow]) -> None:
        """Point each new connection at our schema (the SQL above names no schema)."""
        await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema)))

    async def _migrate(self, conn: psycopg.AsyncConnection[TupleRow]) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        await conn.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self._schema))
        )
        version = await self._check_version(conn)
        for steps in _MIGRATIONS[version:]:
            for statement in steps:
                await conn.execute(statement)
        if version < POSTGRES_SCHEMA_VERSION:
            await conn.execute(
                "INSERT INTO meta VALUES ('schema_version', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (POSTGRES_SCHEMA_VERSION,),
            )

    async def _check_version(self, conn: psycopg.AsyncConnection[TupleRow]) -> int:
        found = await conn.execute("SELECT to_regclass('meta') IS NOT NULL")
        row = await found.fetchone()
        if row is None or not row[0]:
            return 0
        found = await conn.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        value = await found.fetchone()
        version = 0 if value is None else int(value[0])
        if version > POSTGRES_SCHEMA_VERSION:
            msg = (
                f"{self._where}: database schema version {version} is newer than this podium "
                f"knows ({POSTGRES_SCHEMA_VERSION}): upgrade podium to open it"
            )
            raise StoreError(msg)
        return version

    def _load(self, run_id: RunId, seq: int, version: int, body: str) -> Event:
        return load_stored(self._where, run_id=run_id, seq=seq, version=version, body=body)


def _event_row(event: Event) -> tuple[str, int, str, int, datetime, str]:
    body = dump_event(event).decode()
    return (event.run_id, event.seq, event.kind, SCHEMA_VERSION, as_utc(event.at), body)


def _run_update(
    run_id: RunId, last_seq: int, events: Sequence[Event]
) -> tuple[int, datetime | None, str | None, RunStatus | None, str]:
    """The parameters of ``_UPDATE_RUN`` after appending ``events``."""
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    status = None
    for event in events:
        status = status_after(event) or status
    if started is None:
        return last_seq, None, None, status, run_id
    return last_seq, as_utc(started.at), started.workflow, status, run_id


def _split_schema(url: str) -> tuple[str, str | None]:
    """``url`` without its ``schema`` query parameter, and that parameter."""
    if not is_database_url(url):
        return url, None
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    rest = urlencode([(key, value) for key, value in query if key != "schema"])
    return urlunsplit(parts._replace(query=rest)), (schemas[-1] if schemas else None)
