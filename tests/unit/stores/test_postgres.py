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

import podium
from podium.errors import ConfigError, StoreError
from podium.event import Event, FeedbackRecorded
from podium.ids import RunId
from podium.stores.argument import opened_store
from podium.stores.location import default_store, store_exists
from podium.stores.postgres import POSTGRES_SCHEMA_VERSION, PostgresStore
from podium.stores.url import is_database_url, without_password
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


def test_database_urls_are_told_apart_from_files() -> None:
    assert is_database_url("postgresql://h/db")
    assert is_database_url("postgres://h/db")
    assert not is_database_url("runs/podium.db")
    assert not is_database_url("postgresql.db")


def test_a_password_is_masked_in_names() -> None:
    assert without_password("postgresql://ana:pw@h/db") == "postgresql://ana:***@h/db"
    assert without_password("postgresql://ana@h/db") == "postgresql://ana@h/db"
    assert without_password("host=h password=pw dbname=x") == "host=h password=*** dbname=x"


async def test_a_url_as_store_opens_the_database(postgres_url: str) -> None:
    async with opened_store(postgres_url) as store:
        assert isinstance(store, PostgresStore)
        await store.append(RUN, sample_events(RUN))
    assert [r.run_id for r in await podium.list_runs(store=postgres_url, prefix="r")] == [RUN]


def test_podium_store_may_name_a_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PODIUM_STORE", "postgresql://h/db?schema=team")
    assert default_store() == "postgresql://h/db?schema=team"
    assert store_exists(default_store())
    monkeypatch.setenv("PODIUM_STORE", str(tmp_path / "runs.db"))
    assert default_store() == tmp_path / "runs.db"
    assert not store_exists(default_store())
