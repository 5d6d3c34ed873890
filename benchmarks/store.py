"""How fast the stores append events and answer ``list_runs`` queries.

Run with ``python benchmarks/store.py [POSTGRES_URL]``. SQLite writes a file in a temporary
directory, so its figures include real commits (and, with ``durability="full"``, real
fsyncs). PostgreSQL uses ``POSTGRES_URL`` (default: the server at 127.0.0.1:5432, database
``test``) in a scratch schema it drops afterwards; it is left out, saying so, where no server
answers. Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import psycopg
from psycopg import sql

from podium import PostgresStore, RunId, SqliteStore, Store, StoreError, TaskId
from podium.event import Event, TaskStarted
from podium.testing import sample_events

_AT: Final = datetime(2025, 1, 1, tzinfo=UTC)
_START: Final = datetime(2025, 1, 1, 9, tzinfo=UTC)
_SERVER: Final = "postgresql://postgres@127.0.0.1:5432/test"
_RUNS: Final = 2000
"""Runs stored before the queries are timed."""


def _events(run_id: RunId, count: int) -> list[Event]:
    return [
        TaskStarted(seq=seq, run_id=run_id, at=_AT, task_id=TaskId(f"t{seq}"), agent="writer")
        for seq in range(1, count + 1)
    ]


async def _appends(store: Store, name: str, *, count: int, batch: int, writers: int = 1) -> None:
    """Print events per second: ``writers`` runs appended to at once, ``batch`` at a time."""

    async def write(run_id: RunId) -> None:
        events = _events(run_id, count)
        for start in range(0, count, batch):
            await store.append(run_id, events[start : start + batch])

    started = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for i in range(writers):
            tg.create_task(write(RunId(f"{name}-{batch}-{writers}-{i}")))
    rate = writers * count / (time.perf_counter() - started)
    print(f"{name:<16}{batch:>6}{writers:>8}{writers * count:>8}{rate:>12,.0f}")


async def _queries(store: Store, name: str) -> None:
    """Print how long ``list_runs`` takes with each filter over ``_RUNS`` stored runs."""
    for i in range(_RUNS):
        run_id = RunId(f"{i:06x}-run")
        started = _START + timedelta(minutes=i)
        await store.append(run_id, sample_events(run_id, started_at=started, status="succeeded"))
    middle = _START + timedelta(minutes=_RUNS // 2)
    queries: dict[str, Callable[[], Awaitable[object]]] = {
        "newest 20": lambda: store.list_runs(limit=20),
        "id prefix": lambda: store.list_runs(prefix="0003e8"),
        "1 hour window": lambda: store.list_runs(since=middle, before=middle + timedelta(hours=1)),
        "status waiting": lambda: store.list_runs(status="waiting"),
    }
    for label, query in queries.items():
        started = time.perf_counter()
        for _ in range(10):
            await query()
        print(f"{name:<16}{label:<16}{(time.perf_counter() - started) * 100:>10.2f} ms")


async def _postgres(url: str) -> None:
    schema = f"podium_bench_{uuid.uuid4().hex[:8]}"
    try:
        async with PostgresStore(url, schema=schema) as store:
            await _appends(store, "postgres", count=2000, batch=1)
            await _appends(store, "postgres", count=10000, batch=10)
            await _appends(store, "postgres", count=500, batch=1, writers=8)
            await _queries(store, "postgres")
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            conn.execute(drop)


async def main(url: str) -> None:
    """Print append rates and query times for SQLite and, where a server answers, PostgreSQL."""
    print(f"{'store':<16}{'batch':>6}{'writers':>8}{'events':>8}{'events/s':>12}")
    with tempfile.TemporaryDirectory() as folder:
        for durability, count in (("normal", 5000), ("full", 500)):
            name = f"sqlite {durability}"
            async with SqliteStore(Path(folder) / f"{durability}.db", durability=durability) as db:
                await _appends(db, name, count=count, batch=1)
                await _appends(db, name, count=count * 4, batch=10)
        async with SqliteStore(Path(folder) / "queries.db") as db:
            await _queries(db, "sqlite normal")
    try:
        await _postgres(url)
    except (StoreError, psycopg.OperationalError) as exc:
        print(f"postgres left out: {str(exc).splitlines()[0]}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else _SERVER))
