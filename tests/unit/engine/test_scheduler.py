"""The scheduler on its own: joins, skips, routes, and the earliest-start law for random DAGs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podium.engine.scheduler import Outcome, execute_graph
from podium.ids import TaskId
from podium.task import AtLeast, Join, Task
from podium.testing.clock import ManualClock


def node(task_id: str, *needs: str, join: Join = "all", routes: tuple[str, ...] = ()) -> Task:
    return Task(
        id=TaskId(task_id),
        agent="a",
        needs=tuple(TaskId(n) for n in needs),
        join=join,
        routes=tuple(TaskId(r) for r in routes),
    )


@dataclass
class Recorder:
    """Runs tasks with scripted outcomes and records what happened, in order."""

    fail: set[str] = field(default_factory=set)
    choose: dict[str, str] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    async def run(self, task: Task) -> Outcome:
        self.log.append(("start", task.id))
        await asyncio.sleep(0)
        self.log.append(("end", task.id))
        if task.id in self.fail:
            return Outcome(status="failed", reason="boom")
        chosen = TaskId(self.choose[task.id]) if task.id in self.choose else None
        return Outcome(status="succeeded", output=task.id, chosen=chosen)

    async def skip(self, task: Task, reason: str) -> None:
        self.skipped[task.id] = reason

    def started(self) -> list[str]:
        return [t for kind, t in self.log if kind == "start"]


async def test_sequence_and_fan_in_run_in_dependency_order() -> None:
    rec = Recorder()
    tasks = [node("a"), node("b", "a"), node("c", "a"), node("d", "b", "c")]
    outcomes = await execute_graph(tasks, rec.run, rec.skip)
    assert {t: o.status for t, o in outcomes.items()} == dict.fromkeys("abcd", "succeeded")
    order = rec.started()
    assert order[0] == "a" and order[-1] == "d"
    # b and c are independent: both start before either ends
    assert rec.log.index(("start", "c")) < rec.log.index(("end", "b"))


async def test_failed_need_skips_dependents_but_not_siblings() -> None:
    rec = Recorder(fail={"a"})
    tasks = [node("a"), node("b", "a"), node("c"), node("d", "b")]
    outcomes = await execute_graph(tasks, rec.run, rec.skip)
    assert outcomes["a"].status == "failed"
    assert outcomes["c"].status == "succeeded"
    assert outcomes["b"].status == "skipped" and outcomes["d"].status == "skipped"
    assert rec.skipped["b"] == "needs not met (a failed)"
    assert rec.skipped["d"] == "needs not met (b skipped)"


async def test_join_any_starts_on_first_success_and_runs_once() -> None:
    rec = Recorder(fail={"x"})
    tasks = [node("x"), node("y"), node("z"), node("j", "x", "y", "z", join="any")]
    outcomes = await execute_graph(tasks, rec.run, rec.skip)
    assert outcomes["j"].ok
    assert rec.started().count("j") == 1


async def test_join_any_skips_when_every_need_failed() -> None:
    rec = Recorder(fail={"x", "y"})
    tasks = [node("x"), node("y"), node("j", "x", "y", join="any")]
    outcomes = await execute_graph(tasks, rec.run, rec.skip)
    assert outcomes["j"].status == "skipped"
    assert "x failed" in rec.skipped["j"] and "y failed" in rec.skipped["j"]


@pytest.mark.parametrize(
    ("failing", "expected"),
    [(set(), "succeeded"), ({"p"}, "succeeded"), ({"p", "q"}, "skipped")],
)
async def test_join_at_least_n_of_m(failing: set[str], expected: str) -> None:
    rec = Recorder(fail=failing)
    tasks = [node("p"), node("q"), node("r"), node("j", "p", "q", "r", join=AtLeast(at_least=2))]
    outcomes = await execute_graph(tasks, rec.run, rec.skip)
    assert outcomes["j"].status == expected


async def test_router_choice_skips_the_other_routes() -> None:
    rec = Recorder(choose={"triage": "billing"})
    tasks = [
        node("triage", routes=("billing", "tech")),
        node("billing", "triage"),
        node("tech", "triage"),
        node("reply", "billing", "tech", join="any"),
    ]
    outcomes = await execute_graph(tasks, rec.run, rec.skip)
    assert outcomes["billing"].ok and outcomes["reply"].ok
    assert outcomes["tech"].status == "skipped"
    assert rec.skipped["tech"] == "router 'triage' chose 'billing'"


async def test_a_bug_in_a_task_cancels_the_graph_and_propagates() -> None:
    release = asyncio.Event()

    async def run(task: Task) -> Outcome:
        if task.id == "bad":
            raise RuntimeError("bug")
        await release.wait()  # never set: the bug must cancel this
        return Outcome(status="succeeded")

    async def skip(task: Task, reason: str) -> None:
        raise AssertionError("nothing is skipped")

    with pytest.raises(ExceptionGroup) as caught:
        await execute_graph([node("bad"), node("slow")], run, skip)
    assert caught.group_contains(RuntimeError, match="bug")


@st.composite
def dags(draw: st.DrawFn, max_tasks: int = 25) -> tuple[list[Task], dict[str, int]]:
    """Random DAGs (edges only point to earlier tasks) with a duration per task."""
    size = draw(st.integers(min_value=1, max_value=max_tasks))
    tasks = []
    durations = {}
    for i in range(size):
        needs = draw(st.sets(st.integers(min_value=0, max_value=i - 1), max_size=3)) if i else set()
        tasks.append(node(f"t{i}", *(f"t{n}" for n in sorted(needs))))
        durations[f"t{i}"] = draw(st.integers(min_value=1, max_value=3))
    order = draw(st.permutations(tasks))
    return list(order), durations


async def _run_on_clock(
    tasks: list[Task], durations: dict[str, int]
) -> tuple[dict[str, float], dict[str, float], list[str]]:
    clock = ManualClock()
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    runs: list[str] = []

    async def run(task: Task) -> Outcome:
        runs.append(task.id)
        starts[task.id] = clock.monotonic()
        await clock.sleep(timedelta(seconds=durations[task.id]))
        ends[task.id] = clock.monotonic()
        return Outcome(status="succeeded")

    async def skip(task: Task, reason: str) -> None:
        raise AssertionError(f"{task.id} skipped: {reason}")

    async def drive(graph: asyncio.Task[dict[TaskId, Outcome]]) -> None:
        while not graph.done():
            for _ in range(20):  # let every woken task finish and every ready task start
                await asyncio.sleep(0)
            step = clock.next_deadline()
            if step is not None:
                clock.advance(step)

    async with asyncio.TaskGroup() as group:
        graph = group.create_task(execute_graph(tasks, run, skip))
        group.create_task(drive(graph))
    return starts, ends, runs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_every_task_runs_once_at_its_earliest_start(
    case: tuple[list[Task], dict[str, int]],
) -> None:
    """No supersteps: each task starts exactly when its last need ends, so independent tasks
    that become ready together overlap, and the graph finishes on its critical path."""
    tasks, durations = case
    starts, ends, runs = asyncio.run(_run_on_clock(tasks, durations))
    assert sorted(runs) == sorted(t.id for t in tasks)
    by_id = {t.id: t for t in tasks}
    earliest: dict[str, float] = {}

    def earliest_start(task_id: str) -> float:
        if task_id not in earliest:
            needs = by_id[task_id].needs
            earliest[task_id] = max((earliest_start(n) + durations[n] for n in needs), default=0)
        return earliest[task_id]

    for task in tasks:
        assert all(ends[n] <= starts[task.id] for n in task.needs)
        assert starts[task.id] == earliest_start(task.id)
    critical_path = max(earliest_start(t.id) + durations[t.id] for t in tasks)
    assert max(ends.values()) == critical_path
