"""Withdrawing running tasks: cancelling joins, end, cancel regions, early-stopping maps, locks.

Each test holds the tasks it races on an ``asyncio.Event`` the test controls (never a sleep)
and reads from the event log which tasks ran, overlapped and were cancelled.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from podium import Agent, AtLeast, MapSpec, ModelRequest, ScriptedModel, SqliteStore, Task, Workflow
from podium.engine import LocalEngine
from podium.event import Event
from podium.policy import RetryPolicy
from podium.run import RunResult


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    async with SqliteStore(":memory:") as store:
        yield store


@dataclass
class Race:
    """A model whose answers the test holds: ``held`` tasks wait until released (or forever).

    It counts the calls made for each task and the calls that were cancelled in flight.
    """

    held: set[str] = field(default_factory=set)
    after: dict[str, str] = field(default_factory=dict)
    """Task -> the task whose call must have started before this one answers."""
    calls: Counter[str] = field(default_factory=Counter)
    cancelled: Counter[str] = field(default_factory=Counter)
    started: dict[str, asyncio.Event] = field(default_factory=dict)
    release: dict[str, asyncio.Event] = field(default_factory=dict)

    def began(self, task: str) -> asyncio.Event:
        return self.started.setdefault(task, asyncio.Event())

    async def answer(self, request: ModelRequest) -> str:
        assert request.caller is not None
        task = request.caller.task_id.split("/")[-1]
        self.calls[task] += 1
        self.began(task).set()
        try:
            if task in self.after:
                await self.began(self.after[task]).wait()
            if task in self.held:
                await self.release.setdefault(task, asyncio.Event()).wait()
        except asyncio.CancelledError:
            self.cancelled[task] += 1
            raise
        return f"{task} done"

    def model(self) -> ScriptedModel:
        return ScriptedModel(self.answer)


async def execute(store: SqliteStore, flow: Workflow, race: Race) -> RunResult:
    engine = LocalEngine(store=store, model=race.model(), retry=RetryPolicy(max_attempts=1))
    return await engine.execute(flow)


def statuses(result: RunResult) -> dict[str, str]:
    return {task_id: task.status for task_id, task in result.tasks.items()}


def seq(events: tuple[Event, ...], kind: str, task_id: str) -> int:
    return next(e.seq for e in events if e.kind == kind and getattr(e, "task_id", None) == task_id)


def racers(*tasks: Task) -> Workflow:
    return Workflow(name="race", agents=(Agent(name="x"),), tasks=tasks)


def agent_task(task_id: str, *needs: str, **options: object) -> Task:
    return Task(id=task_id, agent="x", instruction=task_id, needs=needs, **options)  # type: ignore[arg-type]


async def test_a_cancelling_join_any_stops_paying_for_the_losers(store: SqliteStore) -> None:
    race = Race(held={"slow"}, after={"fast": "slow"})
    flow = racers(
        agent_task("fast"),
        agent_task("slow"),
        agent_task("pick", "fast", "slow", join="any", cancel_rest=True),
    )

    result = await execute(store, flow, race)

    assert result.ok, result.error
    assert statuses(result) == {"fast": "succeeded", "slow": "cancelled", "pick": "succeeded"}
    assert race.calls["slow"] == 1 and race.cancelled["slow"] == 1  # its call was cut off
    (cancelled,) = [e for e in result.events if e.kind == "task_cancelled"]
    assert cancelled.task_id == "slow" and "'pick'" in cancelled.reason  # type: ignore[attr-defined]
    assert not [e for e in result.events if e.kind == "model_called" and e.task_id == "slow"]  # type: ignore[attr-defined]
    assert seq(result.events, "task_cancelled", "slow") > seq(
        result.events, "task_succeeded", "fast"
    )


async def test_join_at_least_cancels_only_what_is_still_running(store: SqliteStore) -> None:
    race = Race(held={"c"}, after={"a": "c", "b": "c"})
    flow = racers(
        agent_task("a"),
        agent_task("b"),
        agent_task("c"),
        agent_task("vote", "a", "b", "c", join=AtLeast(at_least=2), cancel_rest=True),
    )

    result = await execute(store, flow, race)

    assert result.ok, result.error
    assert statuses(result)["c"] == "cancelled"
    assert [s for t, s in statuses(result).items() if t != "c"] == ["succeeded"] * 3
    assert race.cancelled == Counter({"c": 1})


async def test_a_losing_chain_is_cancelled_but_a_task_that_feeds_others_is_not(
    store: SqliteStore,
) -> None:
    race = Race(held={"first", "shared"}, after={"fast": "shared"})
    flow = racers(
        agent_task("fast"),
        agent_task("first"),
        agent_task("second", "first"),
        agent_task("shared"),
        agent_task("also", "shared"),
        agent_task("pick", "fast", "second", "also", join="any", cancel_rest=True),
        agent_task("audit", "shared"),
    )
    engine = LocalEngine(store=store, model=race.model(), retry=RetryPolicy(max_attempts=1))
    running = asyncio.get_running_loop().create_task(engine.execute(flow))
    await race.began("pick").wait()
    race.release.setdefault("shared", asyncio.Event()).set()  # it feeds audit: let it finish

    result = await running

    assert result.ok, result.error
    assert statuses(result) == {
        "fast": "succeeded",
        "first": "cancelled",  # ran only for the losing branch
        "second": "cancelled",  # never started
        "shared": "succeeded",  # audit needs it too: not cancelled
        "also": "cancelled",  # a losing need, not started yet
        "pick": "succeeded",
        "audit": "succeeded",
    }
    assert race.calls["second"] == 0


async def test_end_completes_the_run_and_cancels_what_runs(store: SqliteStore) -> None:
    race = Race(held={"slow"}, after={"answer": "slow"})
    flow = Workflow(
        name="w",
        agents=(Agent(name="x"),),
        output="answer",
        tasks=[
            agent_task("answer", end=True),
            agent_task("slow"),
            agent_task("later", "slow"),
            agent_task("after_answer", "answer"),
        ],
    )

    result = await execute(store, flow, race)

    assert result.ok, result.error
    assert result.output == "answer done"
    assert statuses(result) == {
        "answer": "succeeded",
        "slow": "cancelled",
        "later": "skipped",
        "after_answer": "skipped",
    }
    assert result.tasks["after_answer"].error == "task 'answer' ended the workflow"


async def test_a_cancel_region_withdraws_a_whole_sub_workflow(store: SqliteStore) -> None:
    race = Race(held={"dig"}, after={"verdict": "dig"})
    region = Workflow(
        name="investigation",
        agents=(Agent(name="x"),),
        tasks=[agent_task("dig"), agent_task("report", "dig")],
    )
    flow = Workflow(
        name="w",
        agents=(Agent(name="x"),),
        output="verdict",
        tasks=[
            Task(id="inquiry", workflow=region),
            agent_task("verdict", cancels=("inquiry",)),
            agent_task("summary", "inquiry"),
        ],
    )

    result = await execute(store, flow, race)

    assert result.ok, result.error  # a cancel region does not fail the run
    assert statuses(result) == {
        "inquiry": "cancelled",
        "inquiry/dig": "cancelled",
        "inquiry/report": "skipped",  # never reached: the region was withdrawn first
        "verdict": "succeeded",
        "summary": "skipped",
    }
    assert race.cancelled == Counter({"dig": 1})
    events = result.events
    assert seq(events, "task_cancelled", "inquiry/dig") < seq(events, "task_cancelled", "inquiry")


async def test_a_cancel_region_under_a_false_condition_cancels_nothing(store: SqliteStore) -> None:
    flow = Workflow(
        name="w",
        inputs={"abort": {"default": False}},  # type: ignore[dict-item]
        agents=(Agent(name="x"),),
        tasks=[
            agent_task("work"),
            agent_task("stop", cancels=("work",), when="abort"),
        ],
    )

    result = await execute(store, flow, Race(after={"stop": "work"}))

    assert result.ok and statuses(result) == {"work": "succeeded", "stop": "skipped"}


def mapped(docs: list[str], when: str | None = None, **options: object) -> Workflow:
    return Workflow(
        name="w",
        inputs={"docs": {"default": docs}},  # type: ignore[dict-item]
        agents=(Agent(name="x"),),
        tasks=[
            Task(
                id="scan",
                map=MapSpec(
                    over="docs",
                    item="doc",
                    task=Task(id="one", agent="x", instruction="{{ doc }}", when=when),
                    **options,  # type: ignore[arg-type]
                ),
            )
        ],
    )


class ItemRace:
    """Items ``a`` and ``b`` answer; ``c`` and ``d`` hold until cancelled."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.held = 0
        self.both_held = asyncio.Event()

    async def answer(self, request: ModelRequest) -> str:
        doc = request.messages[-1].content
        if doc in ("a", "b"):
            await self.both_held.wait()
            return doc.upper()
        self.held += 1
        if self.held == 2:
            self.both_held.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(doc)
            raise
        raise AssertionError("unreachable")  # pragma: no cover


@pytest.mark.parametrize(
    "options",
    [{"at_least": 2}, {"until": "results | length >= 2"}],
    ids=["at_least", "until"],
)
async def test_a_map_stops_early_and_cancels_the_other_items(
    store: SqliteStore, options: dict[str, object]
) -> None:
    items = ItemRace()
    engine = LocalEngine(store=store, model=ScriptedModel(items.answer))

    result = await engine.execute(mapped(["a", "b", "c", "d"], **options))

    assert result.ok, result.error
    assert result.output == ["A", "B"]
    assert sorted(items.cancelled) == ["c", "d"]
    assert {t: s for t, s in statuses(result).items() if "[" in t} == {
        "scan[0]": "succeeded",
        "scan[1]": "succeeded",
        "scan[2]": "cancelled",
        "scan[3]": "cancelled",
    }


async def test_a_map_short_of_at_least_fails(store: SqliteStore) -> None:
    flow = mapped(["a", ""], when="doc != ''", at_least=2)
    engine = LocalEngine(store=store, model=ScriptedModel(lambda r: "ok"))

    result = await engine.execute(flow)

    assert result.status == "failed"
    assert "only 1 of 2 items succeeded, at_least 2" in (result.error or "")


async def test_tasks_holding_the_same_lock_never_overlap(store: SqliteStore) -> None:
    inner = Workflow(
        name="inner",
        agents=(Agent(name="x"),),
        tasks=[agent_task("write_inner", lock="ledger")],
    )
    flow = Workflow(
        name="w",
        agents=(Agent(name="x"),),
        tasks=[
            agent_task("write_a", lock="ledger"),
            agent_task("write_b", lock="ledger"),
            Task(id="nested", workflow=inner),
            agent_task("free"),
        ],
    )
    in_section = 0
    peak = 0

    async def answer(request: ModelRequest) -> str:
        nonlocal in_section, peak
        assert request.caller is not None
        if request.caller.task_id == "free":
            return "free"
        in_section += 1
        peak = max(peak, in_section)
        for _ in range(5):
            await asyncio.sleep(0)  # yield: another holder would enter now if it could
        in_section -= 1
        return "written"

    engine = LocalEngine(store=store, model=ScriptedModel(answer))
    result = await engine.execute(flow)

    assert result.ok, result.error
    assert peak == 1
    spans = sorted(
        (seq(result.events, "task_started", t), seq(result.events, "task_succeeded", t))
        for t in ("write_a", "write_b", "nested/write_inner")
    )
    assert all(end < next_start for (_, end), (next_start, _) in itertools.pairwise(spans))


async def test_a_router_may_choose_a_stop_route_that_ends_the_workflow(
    store: SqliteStore,
) -> None:
    race = Race(held={"background"}, after={"triage": "background"})
    flow = Workflow(
        name="w",
        agents=(Agent(name="x"),),
        output="stop",
        tasks=[
            agent_task("background"),
            Task(id="triage", agent="x", instruction="go on?", routes=("stop", "work")),
            agent_task("stop", "triage", end=True),
            agent_task("work", "triage"),
        ],
    )
    answers = {"triage": '{"choice": "stop", "reason": "nothing to do"}'}

    async def answer(request: ModelRequest) -> str:
        assert request.caller is not None
        if request.caller.task_id in answers:
            await race.began("background").wait()
            return answers[request.caller.task_id]
        return await race.answer(request)

    engine = LocalEngine(
        store=store, model=ScriptedModel(answer), retry=RetryPolicy(max_attempts=1)
    )
    result = await engine.execute(flow)

    assert result.ok, result.error
    assert statuses(result) == {
        "background": "cancelled",
        "triage": "succeeded",
        "stop": "succeeded",
        "work": "skipped",
    }


async def test_a_map_killed_before_it_had_enough_stops_early_on_resume(
    store: SqliteStore,
) -> None:
    calls: Counter[str] = Counter()

    def model(answering: set[str]) -> ScriptedModel:
        async def answer(request: ModelRequest) -> str:
            doc = request.messages[-1].content
            calls[doc] += 1
            if doc in answering:
                return doc.upper()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")  # pragma: no cover

        return ScriptedModel(answer)

    flow = mapped(["a", "b", "c", "d"], at_least=2)
    kept = asyncio.Event()

    def watch(event: Event) -> None:
        if event.kind == "task_succeeded" and event.task_id == "scan[0]":  # type: ignore[attr-defined]
            kept.set()

    engine = LocalEngine(store=store, model=model({"a"}), subscribers=[watch])
    running = asyncio.get_running_loop().create_task(engine.execute(flow))
    await kept.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    (summary,) = await store.list_runs()

    resumed = LocalEngine(store=store, model=model({"a", "b"}))
    result = await resumed.resume(flow, summary.run_id)

    assert result.ok, result.error
    assert result.output == ["A", "B"]
    assert calls["a"] == 1  # its answer was kept
    assert {result.tasks[f"scan[{i}]"].status for i in (2, 3)} == {"cancelled"}
