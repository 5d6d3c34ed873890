"""The recorder commits what nothing waits for (a task started) shortly after it is noted,
while the tasks that noted it wait on their models, not only with the next event a task
waits for."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from held_model import Held

from podium import Agent, SqliteStore, Task, Workflow
from podium.engine import LocalEngine
from podium.engine.recorder import NOTE_DELAY_S
from podium.event import Event, TaskStarted
from podium.ids import RunId
from podium.policy import RetryPolicy


def side_by_side() -> Workflow:
    return Workflow(
        name="side-by-side",
        agents=(Agent(name="x"),),
        tasks=[Task(id="a", agent="x", instruction="a"), Task(id="b", agent="x", instruction="b")],
    )


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    async with SqliteStore(":memory:") as store:
        yield store


async def started_in_store(store: SqliteStore) -> set[str]:
    """The tasks the store shows started, once it shows both (the held tasks commit nothing
    else meanwhile; a generous bound stops a run whose notes are never committed)."""
    started: set[str] = set()
    async with asyncio.timeout(30):
        while started != {"a", "b"}:
            await asyncio.sleep(NOTE_DELAY_S)
            runs = await store.list_runs()
            if runs:
                events = await store.read(runs[0].run_id)
                started = {e.task_id for e in events if isinstance(e, TaskStarted)}
    return started


async def test_tasks_waiting_on_their_models_are_durably_started(store: SqliteStore) -> None:
    held = Held("a", "b")
    engine = LocalEngine(store=store, model=held.model(), retry=RetryPolicy(max_attempts=1))
    async with asyncio.TaskGroup() as group:
        running = group.create_task(engine.execute(side_by_side()))
        await held.started("a").wait()
        await held.started("b").wait()
        # Both are held mid-call: no event a task waits for has been recorded since they
        # started, yet the log already shows them started.
        started = await started_in_store(store)
        running.cancel()

    assert started == {"a", "b"}
    (summary,) = await store.list_runs()
    events = await store.read(summary.run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # nothing twice
    assert events[-1].kind == "run_completed"


async def test_a_chain_still_commits_once_per_task(store: SqliteStore) -> None:
    """A task that completes at once takes its start along in its own commit."""
    appends: list[int] = []
    append = store.append

    async def counting(run_id: RunId, events: Sequence[Event]) -> None:
        appends.append(len(events))
        await append(run_id, events)

    store.append = counting  # the real store, its batches counted
    tasks = [Task(id="t0", agent="x", instruction="step 0")]
    tasks += [
        Task(id=f"t{i}", agent="x", instruction=f"step {i}", needs=(f"t{i - 1}",))
        for i in range(1, 5)
    ]
    flow = Workflow(name="chain", agents=(Agent(name="x"),), tasks=tasks)
    engine = LocalEngine(store=store, model=Held().model())

    result = await engine.execute(flow)

    assert result.ok, result.error
    # run_started, then one commit per task (its start, model call and success), then the end
    assert len(appends) == 1 + 5 + 1, appends
