"""SqliteStore beyond the contract: files, versions, corruption, sharing; store location."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from typing import Literal

import platformdirs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import JsonValue

from podium.errors import StoreError
from podium.event import (
    SCHEMA_VERSION,
    Event,
    ModelCalled,
    RunCompleted,
    TaskFailed,
    TaskRetried,
    TaskStarted,
    ToolCalled,
    dump_event,
    load_event,
)
from podium.ids import RunId, TaskId
from podium.stores.location import default_store_path
from podium.stores.sqlite import STORE_SCHEMA_VERSION, SqliteStore
from podium.testing import sample_events

RUN = RunId("r1")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "podium.db"


def _execute(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    """Run one statement on the file by hand, as another program would."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(sql, args).fetchall()
    conn.close()
    return rows


async def test_events_persist_across_reopen(db: Path) -> None:
    events = sample_events(RUN)
    async with SqliteStore(db) as store:
        await store.append(RUN, events[:7])
    async with SqliteStore(db, durability="full") as store:
        await store.append(RUN, events[7:])
    async with SqliteStore(db) as store:
        assert await store.read(RUN) == events
        assert [r.run_id for r in await store.list_runs()] == [RUN]


async def test_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "podium.db"
    async with SqliteStore(path) as store:
        await store.append(RUN, sample_events(RUN)[:1])
    assert path.is_file()


async def test_wal_mode_is_on(db: Path) -> None:
    async with SqliteStore(db):
        assert _execute(db, "PRAGMA journal_mode") == [("wal",)]


async def test_newer_event_schema_fails_clearly(db: Path) -> None:
    events = sample_events(RUN)
    async with SqliteStore(db) as store:
        await store.append(RUN, events[:1])
    body = dump_event(events[1]).decode()
    _execute(
        db,
        "INSERT INTO events VALUES (?, 2, 'task_started', ?, '2025', ?)",
        RUN,
        SCHEMA_VERSION + 1,
        body,
    )
    async with SqliteStore(db) as store:
        with pytest.raises(StoreError, match=r"run r1 event 2 .*upgrade podium"):
            await store.read(RUN)


async def test_newer_database_layout_fails_clearly(db: Path) -> None:
    async with SqliteStore(db):
        pass
    _execute(db, "UPDATE meta SET value = ?", STORE_SCHEMA_VERSION + 1)
    newer = rf"podium\.db: database schema version {STORE_SCHEMA_VERSION + 1} .*upgrade podium"
    with pytest.raises(StoreError, match=newer):
        SqliteStore(db)


async def test_a_layout_1_file_gets_each_runs_status(db: Path) -> None:
    """Layout 2 adds ``runs.status``, filled from each run's log as it was last recorded."""
    logs = {
        RunId("done"): sample_events(RunId("done"), status="succeeded"),
        RunId("going"): sample_events(RunId("going"))[:-1],
        RunId("waits"): [*sample_events(RunId("waits"))[:-1], _waiting(RunId("waits"))],
    }
    with sqlite3.connect(db) as conn:
        for statement in _LAYOUT_1:
            conn.execute(statement)
        conn.execute("INSERT INTO meta VALUES ('schema_version', 1)")
        for run_id, events in logs.items():
            start = events[0]
            conn.execute("INSERT INTO runs VALUES (?, ?, ?)", (run_id, start.at.isoformat(), "r"))
            conn.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, e.seq, e.kind, 3, e.at.isoformat(), dump_event(e)) for e in events],
            )
    conn.close()
    async with SqliteStore(db) as store:
        for status, run_id in (("succeeded", "done"), ("running", "going"), ("waiting", "waits")):
            assert [r.run_id for r in await store.list_runs(status=status)] == [run_id]
        assert await store.read(RunId("done")) == logs[RunId("done")]
    assert _execute(db, "SELECT value FROM meta") == [(STORE_SCHEMA_VERSION,)]


_LAYOUT_1 = (
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE events(run_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,"
    " schema_version INTEGER NOT NULL, at TEXT NOT NULL, body TEXT NOT NULL,"
    " PRIMARY KEY (run_id, seq)) WITHOUT ROWID",
    "CREATE TABLE runs(run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, workflow TEXT NOT NULL)",
    "CREATE INDEX runs_by_start ON runs(started_at, run_id)",
)


def _waiting(run_id: RunId) -> RunCompleted:
    last = sample_events(run_id)[-1]
    return RunCompleted(seq=last.seq, run_id=run_id, at=last.at, status="waiting")


async def test_corrupted_body_names_run_and_seq(db: Path) -> None:
    async with SqliteStore(db) as store:
        await store.append(RUN, sample_events(RUN)[:3])
    _execute(db, 'UPDATE events SET body = \'{"kind": "task_started"\' WHERE seq = 2')
    async with SqliteStore(db) as store:
        with pytest.raises(StoreError, match="run r1 event 2 does not parse"):
            await store.read(RUN)
        with pytest.raises(StoreError, match="run r1 event 2 does not parse"):
            await store.list_runs()


async def test_body_of_another_event_is_refused(db: Path) -> None:
    async with SqliteStore(db) as store:
        await store.append(RUN, sample_events(RUN)[:3])
    _execute(db, "UPDATE events SET body = (SELECT body FROM events WHERE seq = 3) WHERE seq = 2")
    async with SqliteStore(db) as store:
        with pytest.raises(StoreError, match="run r1 event 2 holds event 3 of r1"):
            await store.read(RUN)


async def test_event_of_another_run_is_refused() -> None:
    async with SqliteStore(":memory:") as store:
        with pytest.raises(StoreError, match="run r1: event 1 belongs to run r2"):
            await store.append(RUN, sample_events(RunId("r2"))[:1])
        assert await store.read(RUN) == []


async def test_sqlite_errors_become_store_errors_naming_the_file(db: Path) -> None:
    async with SqliteStore(db) as store:
        _execute(db, "DROP TABLE events")
        with pytest.raises(StoreError, match=r"podium\.db: cannot append to run r1: no such table"):
            await store.append(RUN, sample_events(RUN)[:1])


async def test_open_failure_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreError, match=r"file/podium\.db: cannot open"):
        SqliteStore(tmp_path / "file" / "podium.db")


async def test_an_append_cancelled_mid_commit_does_not_break_the_next(db: Path) -> None:
    at = sample_events(RUN)[0].at
    events = [
        TaskStarted(seq=seq, run_id=RUN, at=at, task_id=TaskId("t"), agent=None)
        for seq in range(1, 5002)
    ]
    async with SqliteStore(db, durability="full") as store:
        async with asyncio.TaskGroup() as tg:
            first = tg.create_task(store.append(RUN, events[:-1]))  # a long commit
            await asyncio.sleep(0)  # let it hand its commit to a worker thread
            first.cancel()
        await store.append(RUN, events[-1:])  # must wait for the cancelled commit to end
        assert await store.read(RUN) == events


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_a_store_serves_several_event_loops(
    db: Path, durability: Literal["normal", "full"]
) -> None:
    events = sample_events(RUN)
    half = len(events) // 2
    other = RunId("r2")

    async def append_both(part: slice) -> None:  # two runs at once, on a loop of its own
        async with asyncio.TaskGroup() as group:
            group.create_task(store.append(RUN, events[part]))
            group.create_task(store.append(other, [replace(e, run_id=other) for e in events[part]]))

    store = SqliteStore(db, durability=durability)
    asyncio.run(append_both(slice(0, half)))
    asyncio.run(append_both(slice(half, None)))
    assert asyncio.run(store.read(RUN)) == events
    asyncio.run(store.aclose())


async def test_a_closed_store_refuses_calls() -> None:
    store = SqliteStore(":memory:")
    await store.aclose()
    with pytest.raises(StoreError, match="cannot read run r1: the store is closed"):
        await store.read(RUN)


async def test_a_writer_and_a_reader_share_a_file(db: Path) -> None:
    events = sample_events(RUN)
    async with SqliteStore(db) as writer, SqliteStore(db) as reader:
        for event in events:
            await writer.append(RUN, [event])
            assert (await reader.read(RUN, after_seq=event.seq - 1)) == [event]
        assert [r.status for r in await reader.list_runs()] == ["failed"]


def test_store_path_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".podium").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PODIUM_STORE", str(tmp_path / "elsewhere.db"))
    assert default_store_path() == tmp_path / "elsewhere.db"


def test_store_path_from_nearest_project(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".podium").mkdir()
    (tmp_path / "sub" / ".podium").mkdir(parents=True)
    (tmp_path / "sub" / "deeper").mkdir()
    monkeypatch.delenv("PODIUM_STORE", raising=False)
    monkeypatch.chdir(tmp_path / "sub" / "deeper")
    assert default_store_path() == tmp_path / "sub" / ".podium" / "podium.db"
    monkeypatch.chdir(tmp_path)
    assert default_store_path() == tmp_path / ".podium" / "podium.db"


def test_store_path_falls_back_to_user_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PODIUM_STORE", "")
    monkeypatch.chdir(tmp_path)
    expected = platformdirs.user_data_path("podium", appauthor=False) / "podium.db"
    assert default_store_path() == expected


# dump -> load identity ------------------------------------------------------------------------

# NaN is left out: it is not equal to itself (infinity: see the test below).
_floats = st.floats(allow_nan=False)
_texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
_json: st.SearchStrategy[JsonValue] = st.recursive(
    st.none() | st.booleans() | st.integers() | _floats | _texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_texts, inner, max_size=4),
    max_leaves=10,
)
_common = {
    "seq": st.integers(min_value=1),
    "run_id": _texts.map(RunId),
    "at": st.datetimes(timezones=st.just(UTC)),
}
_task = {**_common, "task_id": _texts.map(TaskId)}
_events: st.SearchStrategy[Event] = st.one_of(
    st.builds(TaskStarted, **_task, agent=st.none() | _texts, attempt=st.integers()),
    st.builds(
        ModelCalled, **_task, agent=_texts, model=_texts, input_tokens=st.integers(),
        output_tokens=st.integers(), latency_s=_floats, response=_json,
    ),
    st.builds(
        ToolCalled, **_task, agent=_texts, tool=_texts,
        arguments=st.dictionaries(_texts, _json, max_size=4), result=_json,
        error=st.none() | _texts,
    ),
    st.builds(
        TaskFailed, **_task, agent=st.none() | _texts, error_type=_texts, message=_texts,
        retryable=st.booleans(),
    ),
    st.builds(
        RunCompleted, **_common, status=st.sampled_from(["succeeded", "failed", "cancelled"]),
        output=_json, error=st.none() | _texts,
    ),
)  # fmt: skip


@given(_events)
def test_event_dump_load_identity(event: Event) -> None:
    assert load_event(dump_event(event)) == event


def test_infinite_float_survives_dump_load() -> None:
    event = sample_events(RUN)[11]
    assert isinstance(event, TaskRetried)
    infinite = replace(event, delay_s=float("inf"))
    assert load_event(dump_event(infinite)) == infinite
