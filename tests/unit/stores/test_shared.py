"""The default store stays open for the process: across event loops, concurrent runs, a
changed ``PODIUM_STORE``, a deleted file and a fork."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

import podium
from podium import Agent, ScriptedModel, SqliteStore, Task, Workflow
from podium.stores.shared import shared_store

FLOW = Workflow(
    name="pair",
    agents=[Agent(name="writer")],
    tasks=[
        Task(id="a", agent="writer", instruction="first"),
        Task(id="b", agent="writer", instruction="then {{ a }}", needs=("a",)),
    ],
)


def model() -> ScriptedModel:
    return ScriptedModel(lambda r: "ok")


def stored_ids(path: Path) -> set[str]:
    """The run ids in the file, read by another connection, as another program would."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT run_id FROM runs").fetchall()
    conn.close()
    return {row[0] for row in rows}


async def test_the_default_store_is_opened_once_for_runs_on_several_loops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "default.db"
    monkeypatch.setenv("PODIUM_STORE", str(path))
    seen: list[SqliteStore] = []

    async def one_run() -> str:
        async with shared_store(path) as store:
            seen.append(store)
        result = await podium.arun(FLOW, model=model())
        return result.run_id

    async def two_at_once() -> list[str]:
        async with asyncio.TaskGroup() as group:
            runs = [group.create_task(one_run()) for _ in range(2)]
        return [run.result() for run in runs]

    ids = await asyncio.to_thread(asyncio.run, two_at_once())  # a loop of its own
    ids += await asyncio.to_thread(asyncio.run, two_at_once())  # and another one
    ids.append(await one_run())  # this test's loop

    assert len({id(store) for store in seen}) == 1
    assert stored_ids(path) == set(ids)
    assert {s.run_id for s in await podium.list_runs()} == set(ids)


def test_podium_run_in_a_row_shares_one_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_STORE", str(tmp_path / "default.db"))
    first = podium.run(FLOW, model=model())
    second = podium.run(FLOW, model=model())

    assert first.status == second.status == "succeeded"
    assert stored_ids(tmp_path / "default.db") == {first.run_id, second.run_id}


async def test_a_changed_podium_store_gets_its_own_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_STORE", str(tmp_path / "one.db"))
    async with shared_store(tmp_path / "one.db") as one:
        first = await podium.arun(FLOW, model=model())
    monkeypatch.setenv("PODIUM_STORE", str(tmp_path / "two.db"))
    second = await podium.arun(FLOW, model=model())

    assert stored_ids(tmp_path / "one.db") == {first.run_id}
    assert stored_ids(tmp_path / "two.db") == {second.run_id}
    with pytest.raises(podium.StoreError, match="the store is closed"):  # nobody used it
        await one.read(first.run_id)


async def test_a_store_replaced_while_in_use_closes_when_its_run_ends(tmp_path: Path) -> None:
    async with shared_store(tmp_path / "one.db") as one:
        async with shared_store(tmp_path / "two.db") as two:
            await podium.arun(FLOW, model=model(), store=one)  # still usable
            await podium.arun(FLOW, model=model(), store=two)
        assert len(await one.list_runs()) == 1
    with pytest.raises(podium.StoreError, match="the store is closed"):
        await one.list_runs()
    async with shared_store(tmp_path / "two.db") as again:
        assert again is two


def test_a_deleted_default_file_is_created_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "default.db"
    monkeypatch.setenv("PODIUM_STORE", str(path))
    podium.run(FLOW, model=model())
    for leftover in tmp_path.glob("default.db*"):
        leftover.unlink()

    again = podium.run(FLOW, model=model())

    assert stored_ids(path) == {again.run_id}


def test_a_forked_child_opens_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_STORE", str(tmp_path / "default.db"))
    parent = podium.run(FLOW, model=model())
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own loop, its own connection
        code = 1
        try:
            child = podium.run(FLOW, model=model())
            os.write(write, child.run_id.encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    child_id = os.read(read, 100).decode()
    os.close(read)

    assert os.waitstatus_to_exitcode(status) == 0
    assert stored_ids(tmp_path / "default.db") == {parent.run_id, child_id}
    again = podium.run(FLOW, model=model())  # the parent's store still works
    assert stored_ids(tmp_path / "default.db") == {parent.run_id, child_id, again.run_id}
