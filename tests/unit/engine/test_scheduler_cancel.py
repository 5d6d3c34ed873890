"""The scheduler's cancelling join on random DAGs: a law checked by Hypothesis.

A ``join: any`` with ``cancel_rest`` starts when its first need succeeds; at that moment it
withdraws the running tasks that only feed its other needs. Every task still ends exactly once
(succeeded, skipped or cancelled), and no withdrawn task gets to finish.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podium.engine.scheduler import Outcome, execute_graph
from podium.ids import TaskId
from podium.task import Task
from podium.testing.clock import ManualClock


def node(task_id: str, *needs: str, **options: object) -> Task:
    return Task(id=TaskId(task_id), agent="a", needs=tuple(TaskId(n) for n in needs), **options)  # type: ignore[arg-type]


@st.composite
def races(draw: st.DrawFn) -> tuple[list[Task], dict[str, int]]:
    """A random DAG with a cancelling join over two or more of its tasks."""
    size = draw(st.integers(min_value=2, max_value=12))
    tasks: list[Task] = []
    durations: dict[str, int] = {}
    for i in range(size):
        needs = draw(st.sets(st.integers(0, i - 1), max_size=2)) if i else set()
        tasks.append(node(f"t{i}", *(f"t{n}" for n in sorted(needs))))
        durations[f"t{i}"] = draw(st.integers(min_value=1, max_value=5))
    joined = draw(st.sets(st.integers(0, size - 1), min_size=2, max_size=4))
    tasks.append(node("join", *(f"t{n}" for n in sorted(joined)), join="any", cancel_rest=True))
    durations["join"] = 1
    return tasks, durations


async def _race(
    tasks: list[Task], durations: dict[str, int]
) -> tuple[dict[TaskId, Outcome], dict[str, float], dict[str, float], list[str]]:
    clock = ManualClock()
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    recorded: list[str] = []

    async def run(task: Task) -> Outcome:
        starts[task.id] = clock.monotonic()
        await clock.sleep(timedelta(seconds=durations[task.id]))
        ends[task.id] = clock.monotonic()
        return Outcome(status="succeeded")

    async def skip(task: Task, reason: str) -> None:
        pass

    async def cancel(task: Task, reason: str) -> None:
        recorded.append(task.id)

    async def drive(graph: asyncio.Task[dict[TaskId, Outcome]]) -> None:
        while not graph.done():
            for _ in range(30):
                await asyncio.sleep(0)
            step = clock.next_deadline()
            if step is not None:
                clock.advance(step)

    async with asyncio.TaskGroup() as group:
        graph = group.create_task(execute_graph(tasks, run, skip, cancel))
        group.create_task(drive(graph))
    return graph.result(), starts, ends, recorded


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(races())
def test_a_cancelling_join_starts_on_the_first_success_and_withdraws_only_what_runs_for_it(
    case: tuple[list[Task], dict[str, int]],
) -> None:
    tasks, durations = case
    outcomes, starts, ends, recorded = asyncio.run(_race(tasks, durations))
    join = tasks[-1]

    assert set(outcomes) == {t.id for t in tasks}  # every task ended, once
    assert outcomes[join.id].ok
    first = min(ends[n] for n in join.needs if n in ends and outcomes[n].ok)
    assert starts[join.id] == first  # it started on the first success
    cancelled = [t for t, o in outcomes.items() if o.status == "cancelled"]
    assert sorted(recorded) == sorted(cancelled)  # each recorded once
    for task_id in cancelled:
        assert task_id not in ends  # a withdrawn task never got to finish
        if task_id in starts:
            assert starts[task_id] <= starts[join.id]  # it was running when the join started
