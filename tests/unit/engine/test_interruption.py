"""A run stopped from outside (Ctrl-C, a budget) records what became of each running task
(``task_cancelled`` with ``is_interrupted``), and a resume runs those tasks again."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from held_model import Held

from podium import Agent, SqliteStore, Task, Workflow
from podium.budget import Budget
from podium.engine import LocalEngine
from podium.event import BudgetExceeded, TaskCancelled
from podium.ids import TaskId
from podium.policy import RetryPolicy

NO_RETRY = RetryPolicy(max_attempts=1)


def fork(budget: Budget | None = None) -> Workflow:
    """``a`` and ``b`` side by side, then ``c``."""
    return Workflow(
        name="fork",
        budget=budget,
        agents=(Agent(name="x"),),
        tasks=[
            Task(id="a", agent="x", instruction="a"),
            Task(id="b", agent="x", instruction="b"),
            Task(id="c", agent="x", instruction="c", needs=(TaskId("a"), TaskId("b"))),
        ],
        output="c",
    )


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    async with SqliteStore(":memory:") as store:
        yield store


async def test_ctrl_c_records_each_running_task_interrupted_and_resume_runs_them_again(
    store: SqliteStore,
) -> None:
    held = Held("a", "b", after={"a": ["b"]})
    engine = LocalEngine(store=store, model=held.model(), retry=NO_RETRY)
    async with asyncio.TaskGroup() as group:
        running = group.create_task(engine.execute(fork()))
        await held.started("a").wait()
        await held.started("b").wait()
        running.cancel()  # what Ctrl-C does to the run
    (summary,) = await store.list_runs()
    events = await store.read(summary.run_id)

    cut = {e.task_id: e for e in events if isinstance(e, TaskCancelled)}
    assert set(cut) == {"a", "b"}
    assert all(e.is_interrupted and e.reason == "the run was cancelled" for e in cut.values())
    assert events[-1].kind == "run_completed"
    assert events[-1].seq > max(e.seq for e in cut.values())

    again = Held()
    resumed = LocalEngine(store=store, model=again.model(), retry=NO_RETRY)
    result = await resumed.resume(fork(), summary.run_id)

    assert result.ok, result.error
    assert result.output == "c done"
    assert again.calls == Counter({"a": 1, "b": 1, "c": 1})


async def test_a_budget_stop_records_the_tasks_it_cut_off_and_a_resume_reruns_them(
    store: SqliteStore,
) -> None:
    held = Held("b", after={"a": ["b"]})
    engine = LocalEngine(store=store, model=held.model(), retry=NO_RETRY)

    stopped = await engine.execute(fork(Budget(max_model_calls=0)))  # a's call goes over

    assert stopped.status == "failed"
    (stop,) = [e for e in stopped.events if isinstance(e, BudgetExceeded)]
    cut = {e.task_id: e for e in stopped.events if isinstance(e, TaskCancelled)}
    assert set(cut) == {"a", "b"}  # a had made its call, not yet recorded its output
    for event in cut.values():
        assert event.is_interrupted
        assert event.reason == f"the run stopped: {stop.reason}"
        assert event.seq < stop.seq
    assert stopped.tasks["b"].status == "interrupted"
    assert stopped.tasks["b"].error == f"the run stopped: {stop.reason}"

    again = Held()
    resumed = LocalEngine(store=store, model=again.model(), retry=NO_RETRY)
    result = await resumed.resume(fork(Budget(max_model_calls=3)), stopped.run_id)

    assert result.ok, result.error
    assert again.calls == Counter({"b": 1, "c": 1})  # a's call is replayed from the log


async def test_a_task_withdrawn_by_the_workflow_is_not_marked_interrupted(
    store: SqliteStore,
) -> None:
    flow = Workflow(
        name="race",
        agents=(Agent(name="x"),),
        tasks=[
            Task(id="a", agent="x", instruction="a"),
            Task(id="b", agent="x", instruction="b"),
            Task(
                id="c",
                agent="x",
                instruction="c",
                needs=(TaskId("a"), TaskId("b")),
                join="any",
                cancel_rest=True,
            ),
        ],
    )
    held = Held("b")
    engine = LocalEngine(store=store, model=held.model(), retry=NO_RETRY)

    result = await engine.execute(flow)

    assert result.ok, result.error
    (cut,) = [e for e in result.events if isinstance(e, TaskCancelled)]
    assert (cut.task_id, cut.is_interrupted) == ("b", False)
