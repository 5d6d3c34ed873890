"""PostgresStore beyond the contract: many processes appending to one run, connection and
schema handling, layout versions. Skipped, saying why, where no PostgreSQL server answers."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from podium.errors import ConfigError, StoreError
from podium.event import Event, FeedbackRecorded
from podium.ids import RunId
from podium.stores.postgres import POSTGRES_SCHEMA_VERSION, PostgresStore, is_postgres_url
from podium.testing import sample_events

RUN = RunId("r1")
WRITER = Path(__file__).with_name("postgres_writer.py")


def _schema_of(url: str) -> str:
    return url.rsplit("schema=", 1)[1]


@pytest.mark.slow
def test_many_processes_append_to_one_run_without_losing_or_doubling_a_seq(
    postgres_url: str,
) -> None:
    writers, count = 4, 25
    procs = [
        subprocess.Popen(
            [sys.executable, str(WRITER), postgres_url, RUN, f"w{i}", str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(writers)
    ]
    try:
        for proc in procs:  # every writer is connected before any starts
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    assert [proc.returncode for proc in procs] == [0] * writers, outputs
    events = asyncio.run(_read(postgres_url))
    assert [e.seq for e in events] == list(range(1, writers * count + 1))
    marks = Counter(e.comment for e in events if isinstance(e, FeedbackRecorded))
    assert marks == Counter(f"w{w}:{i}" for w in range(writers) for i in range(count))


async def _read(url: str) -> list[Event]:
    async with PostgresStore(url) as store:
        return await store.read(RUN)


async def test_stores_opening_a_fresh_schema_at_once_create_it_once(postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url) for _ in range(4)]
    try:
        async with asyncio.TaskGroup() as tg:
            for store in stores:
                tg.create_task(store.read(RUN))
        await stores[0].append(RUN, sample_events(RUN))
        assert await stores[3].read(RUN) == sample_events(RUN)
    finally:
        for store in stores:
            await store.aclose()


async def test_the_schema_comes_from_the_url_or_the_argument(
    postgres_url: str, postgres_server: str
) -> None:
    async with PostgresStore(postgres_url) as store:
        await store.append(RUN, sample_events(RUN))
    async with PostgresStore(postgres_server, schema=_schema_of(postgres_url)) as store:
        assert [r.run_id for r in await store.list_runs()] == [RUN]
    with psycopg.connect(postgres_server) as conn:
        found = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.events").format(
                sql.Identifier(_schema_of(postgres_url))
            )
        ).fetchone()
    assert found == (len(sample_events(RUN)),)


def test_a_schema_that_is_not_an_identifier_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"schema 'a; drop' is not a plain SQL identifier"):
        PostgresStore("postgresql://127.0.0.1/test?schema=a; drop")


async def test_a_newer_layout_fails_clearly(postgres_url: str, postgres_server: str) -> None:
    async with PostgresStore(postgres_url) as store:
        await store.read(RUN)
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("UPDATE {}.meta SET value = %s").format(
                sql.Identifier(_schema_of(postgres_url))
            ),
            (POSTGRES_SCHEMA_VERSION + 1,),
        )
    async with PostgresStore(postgres_url) as store:
        newer = rf"schema version {POSTGRES_SCHEMA_VERSION + 1} is newer .* upgrade podium"
        with pytest.raises(StoreError, match=newer):
            await store.read(RUN)


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port bound with nothing listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def test_no_server_is_a_store_error_without_the_password(refused_port: int) -> None:
    url = f"postgresql://ana:s3cret@127.0.0.1:{refused_port}/test?connect_timeout=2"
    async with PostgresStore(url) as store:
        with pytest.raises(StoreError, match=r"ana:\*\*\*@127\.0\.0\.1.*cannot open") as caught:
            await store.read(RUN)
    assert "s3cret" not in str(caught.value)


async def test_a_closed_store_refuses_calls(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    await store.aclose()
    with pytest.raises(StoreError, match="the store is closed"):
        await store.read(RUN)


def test_postgres_urls_are_told_apart_from_files() -> None:
    assert is_postgres_url("postgresql://h/db")
    assert is_postgres_url("postgres://h/db")
    assert not is_postgres_url("runs/podium.db")
