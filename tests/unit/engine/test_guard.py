"""Budgets and the loop detector: a run over a limit stops cleanly and keeps what it did."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from podium import (
    Agent,
    LoopSpec,
    ModelError,
    ModelRequest,
    ModelResponse,
    ScriptedModel,
    SqliteStore,
    Task,
    Workflow,
    WorkflowValidationError,
    tool,
)
from podium.budget import Budget
from podium.engine import LocalEngine
from podium.engine.guard import Guard
from podium.event import (
    BudgetExceeded,
    ContextWritten,
    Event,
    RunResumed,
    RunStarted,
    TaskStarted,
    TaskSucceeded,
    ToolCalled,
)
from podium.ids import RunId, TaskId
from podium.models.base import Usage
from podium.policy import RetryPolicy
from podium.run import RunResult
from podium.testing.clock import ManualClock
from podium.workflow.yaml import parse_workflow

SECOND = timedelta(seconds=1)
T = TypeVar("T")
_QUIET_TURNS = 20


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    async with SqliteStore(":memory:") as store:
        yield store


def priced(request: ModelRequest) -> ModelResponse:
    """Each call: 100 tokens in, 50 out, one cent; the answer names the task."""
    task = request.caller.task_id if request.caller else "?"
    return ModelResponse(
        model="m", text=f"{task} done", usage=Usage(input_tokens=100, output_tokens=50), cost=0.01
    )


def chain(budget: Budget | None = None, **budgets: Budget) -> Workflow:
    """``a`` (researcher) -> ``b`` (writer) -> ``c`` (writer); ``budgets`` by agent or task."""
    return Workflow(
        name="chain",
        budget=budget,
        agents=[Agent(name=n, budget=budgets.get(n)) for n in ("researcher", "writer")],
        tasks=[
            Task(id="a", agent="researcher", instruction="1", budget=budgets.get("a")),
            Task(id="b", agent="writer", instruction="2", needs=("a",), budget=budgets.get("b")),
            Task(id="c", agent="writer", instruction="3", needs=("b",), budget=budgets.get("c")),
        ],
    )


async def execute(
    store: SqliteStore, flow: Workflow, model: ScriptedModel, clock: ManualClock | None = None
) -> RunResult:
    engine = LocalEngine(store=store, model=model, clock=clock)
    if clock is None:
        return await engine.execute(flow)
    return await on_clock(clock, lambda: engine.execute(flow))


async def on_clock(clock: ManualClock, start: Callable[[], Awaitable[T]]) -> T:
    """Run ``start()``; whenever every task waits on the clock, advance it to the next wake-up.

    "Every task waits" is judged by the clock's sleepers staying the same over a few turns of
    the event loop: tasks woken by an advance need a few turns to reach their next wait.
    """

    async def run() -> T:
        return await start()

    async with asyncio.TaskGroup() as group:
        running = group.create_task(run())
        seen, quiet = None, 0
        while not running.done():
            await asyncio.sleep(0)
            now = (clock.sleepers, clock.next_deadline())
            seen, quiet = now, quiet + 1 if now == seen else 0
            if quiet >= _QUIET_TURNS and now[1] is not None:
                clock.advance(now[1])
    return running.result()


async def stopped(store: SqliteStore, result: RunResult, scope: str, limit: str) -> BudgetExceeded:
    """Check that the run stopped cleanly on ``scope``'s ``limit``; return the stop."""
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith("budget exceeded: ")
    stops = [e for e in result.events if isinstance(e, BudgetExceeded)]
    assert len(stops) == 1
    stop = stops[0]
    assert (stop.scope, stop.limit) == (scope, limit)
    assert stop.reason in result.error
    after = [e.kind for e in result.events if e.seq > stop.seq]
    assert after == ["run_completed"]  # nothing started (or ran) after the stop
    assert await store.read(result.run_id) == list(result.events)
    return stop


def started(events: tuple[Event, ...]) -> list[str]:
    return [e.task_id for e in events if isinstance(e, TaskStarted)]


@pytest.mark.parametrize(
    ("flow", "scope", "limit", "allowed", "words"),
    [
        (chain(Budget(max_tokens=200)), "run", "tokens", 200, "the run used 300 tokens"),
        (chain(Budget(max_cost=0.015)), "run", "cost", 0.015, "max_cost of $0.0150"),
        (chain(Budget(max_model_calls=1)), "run", "model_calls", 1, "made 2 model calls"),
        (chain(writer=Budget(max_tokens=100)), "agent:writer", "tokens", 100, "agent 'writer'"),
        (chain(b=Budget(max_model_calls=0)), "task:b", "model_calls", 0, "task 'b' made 1"),
    ],
)
async def test_a_budget_stops_the_run_after_the_call_that_went_over(
    store: SqliteStore, flow: Workflow, scope: str, limit: str, allowed: float, words: str
) -> None:
    result = await execute(store, flow, ScriptedModel(priced))

    stop = await stopped(store, result, scope, limit)
    assert stop.allowed == allowed
    assert stop.used > allowed
    assert words in stop.reason
    assert f"max_{limit}" in result.error  # type: ignore[operator]  # checked in stopped()
    assert result.context == {"a": "a done", "b": "b done"}  # written before the stop: kept
    assert result.tasks["a"].status == "succeeded"
    assert "c" not in started(result.events)


async def test_max_tasks_stops_before_more_tasks_start(store: SqliteStore) -> None:
    result = await execute(store, chain(Budget(max_tasks=1)), ScriptedModel(priced))

    stop = await stopped(store, result, "run", "tasks")
    assert (stop.used, stop.allowed) == (2, 1)
    assert result.error == "budget exceeded: the run started 2 tasks, over its max_tasks of 1"
    assert result.context["a"] == "a done"
    assert started(result.events) == ["a", "b"]


async def test_a_budget_given_for_the_run_tightens_the_workflows_and_survives_a_resume(
    store: SqliteStore,
) -> None:
    engine = LocalEngine(store=store, model=ScriptedModel(priced))
    result = await engine.execute(
        chain(Budget(max_model_calls=10)), budget=Budget(max_model_calls=1)
    )

    assert result.error == (
        "budget exceeded: the run made 2 model calls, over its max_model_calls of 1"
    )
    (started_event, *_) = result.events
    assert isinstance(started_event, RunStarted)
    assert started_event.budget == {"max_model_calls": 1}

    resumed = await engine.resume(chain(Budget(max_model_calls=10)), result.run_id)

    assert resumed.status == "failed"  # the run's own limit still holds after a resume
    assert "over its max_model_calls of 1" in (resumed.error or "")
    assert resumed.context["a"] == "a done"


async def test_a_run_that_uses_exactly_its_budget_succeeds(store: SqliteStore) -> None:
    budget = Budget(max_tokens=450, max_model_calls=3, max_tasks=3, max_cost=0.03)
    result = await execute(store, chain(budget), ScriptedModel(priced))

    assert result.ok
    assert not [e for e in result.events if isinstance(e, BudgetExceeded)]


async def test_a_loop_task_budget_counts_its_iterations(store: SqliteStore) -> None:
    flow = Workflow(
        name="revising",
        agents=[Agent(name="writer")],
        tasks=[
            Task(id="plan", agent="writer", instruction="plan"),
            Task(
                id="revise",
                needs=("plan",),
                budget=Budget(max_model_calls=2),
                loop=LoopSpec(
                    until="draft == 'never'",
                    max_iterations=5,
                    tasks=(Task(id="draft", agent="writer", instruction="draft"),),
                ),
            ),
        ],
    )
    model = ScriptedModel({"plan": ["p"], "draft": ["v1", "v2", "v3", "v4", "v5"]})

    result = await execute(store, flow, model)

    stop = await stopped(store, result, "task:revise", "model_calls")
    assert stop.reason == "task 'revise' made 3 model calls, over its max_model_calls of 2"
    assert result.context == {"plan": "p", "draft": "v3"}
    assert started(result.events).count("revise/draft") == 3


async def test_a_sub_workflows_budget_bounds_the_task_that_runs_it(store: SqliteStore) -> None:
    inner = Workflow(
        name="inner",
        budget=Budget(max_model_calls=1),
        agents=[Agent(name="writer")],
        tasks=[
            Task(id="x", agent="writer", instruction="x"),
            Task(id="y", agent="writer", instruction="y", needs=("x",)),
        ],
    )
    flow = Workflow(name="outer", tasks=[Task(id="sub", workflow=inner)])

    result = await execute(store, flow, ScriptedModel(priced))

    await stopped(store, result, "task:sub", "model_calls")
    assert result.tasks["sub/x"].status == "succeeded"


# -- wall time, on a manual clock ------------------------------------------------------------


def slow(clock: ManualClock) -> ScriptedModel:
    """Every call takes 4 s of ``clock`` time."""
    return ScriptedModel(priced, latency=4 * SECOND, clock=clock)


@pytest.mark.parametrize(
    ("flow", "scope", "cut_short"),
    [
        (chain(Budget(max_wall_time=10 * SECOND)), "run", "c"),  # c runs from 8 s to 12 s
        (chain(b=Budget(max_wall_time=3 * SECOND)), "task:b", "b"),  # b from 4 s to 8 s
        (chain(writer=Budget(max_wall_time=6 * SECOND)), "agent:writer", "c"),  # 4 s + 2 s
    ],
)
async def test_a_wall_time_budget_stops_the_run_without_waiting_for_an_event(
    store: SqliteStore, flow: Workflow, scope: str, cut_short: str
) -> None:
    clock = ManualClock()

    result = await execute(store, flow, slow(clock), clock)

    stop = await stopped(store, result, scope, "wall_time")
    assert stop.used == stop.allowed  # stopped the moment it ran out
    assert "max_wall_time" in stop.reason
    assert result.tasks[cut_short].status == "interrupted"
    done = [t for t in ("a", "b", "c") if t < cut_short]
    assert result.context == {t: f"{t} done" for t in done}
    assert started(result.events) == [*done, cut_short]


async def test_wall_time_counts_only_while_the_run_executes(store: SqliteStore) -> None:
    """Time between a stop and the resume does not count; the executions add up."""
    clock = ManualClock()
    flow = chain(Budget(max_wall_time=10 * SECOND))
    engine = LocalEngine(store=store, model=slow(clock), clock=clock)

    async def ctrl_c_after_five_seconds() -> None:
        async with asyncio.TaskGroup() as group:
            running = group.create_task(engine.execute(flow))
            await clock.sleep(5 * SECOND)
            running.cancel()

    await on_clock(clock, ctrl_c_after_five_seconds)
    (run,) = await store.list_runs()
    assert run.status == "cancelled"
    clock.advance(timedelta(hours=1))  # stopped for an hour: not counted

    result = await on_clock(clock, lambda: engine.resume(flow, run.run_id))

    stop = await stopped(store, result, "run", "wall_time")
    assert stop.used == 10  # 5 s before the stop, 5 s after the resume
    assert result.context == {"a": "a done", "b": "b done"}


# -- resume ----------------------------------------------------------------------------------


async def test_a_resumed_run_counts_the_whole_log(store: SqliteStore) -> None:
    first = await execute(store, chain(Budget(max_tokens=200)), ScriptedModel(priced))
    await stopped(store, first, "run", "tokens")

    again = await LocalEngine(store=store, model=ScriptedModel(priced)).resume(
        chain(Budget(max_tokens=200)), first.run_id
    )
    assert again.status == "failed"
    resumed = next(e.seq for e in again.events if e.kind == "run_resumed")
    assert [e.kind for e in again.events if e.seq > resumed] == [
        "budget_exceeded",
        "run_completed",
    ]  # still over: stops before anything runs

    raised = chain(Budget(max_tokens=400))  # 300 used before, c adds 150: over again
    third = await LocalEngine(store=store, model=ScriptedModel(priced)).resume(raised, first.run_id)
    stops = [e for e in third.events if isinstance(e, BudgetExceeded)]
    assert (stops[-1].used, stops[-1].allowed) == (450, 400)
    assert third.context == {"a": "a done", "b": "b done", "c": "c done"}

    final = await LocalEngine(store=store, model=ScriptedModel(priced)).resume(
        chain(Budget(max_tokens=450)), first.run_id
    )
    assert final.ok
    assert final.output == "c done"


async def test_a_resume_given_limits_replaces_those_given_for_the_run(store: SqliteStore) -> None:
    engine = LocalEngine(store=store, model=ScriptedModel(priced))
    flow = chain(Budget(max_model_calls=10))
    first = await engine.execute(flow, budget=Budget(max_model_calls=1, max_tokens=1000))
    assert "over its max_model_calls of 1" in (first.error or "")

    other = await engine.resume(flow, first.run_id, budget=Budget(max_tokens=2000))
    assert "the run made 2 model calls, over its max_model_calls of 1" in (other.error or "")

    raised = await engine.resume(flow, first.run_id, budget=Budget(max_model_calls=2))
    assert "the run made 3 model calls, over its max_model_calls of 2" in (raised.error or "")
    assert raised.context["b"] == "b done"

    kept = await engine.resume(flow, first.run_id)  # the latest limits, not the first ones
    assert "the run made 3 model calls, over its max_model_calls of 2" in (kept.error or "")

    final = await engine.resume(flow, first.run_id, budget=Budget(max_model_calls=3))
    assert final.ok
    assert final.output == "c done"
    assert [e.budget for e in final.events if isinstance(e, RunResumed)] == [
        {"max_model_calls": 1, "max_tokens": 2000},
        {"max_model_calls": 2, "max_tokens": 2000},
        None,
        {"max_model_calls": 3, "max_tokens": 2000},
    ]

    replayed = await engine.replay(flow, first.run_id)  # under the latest limits too
    assert replayed.ok
    assert isinstance(replayed.events[0], RunStarted)
    assert replayed.events[0].budget == {"max_model_calls": 3, "max_tokens": 2000}


async def test_limits_given_to_a_resume_do_not_lift_the_workflows_own(store: SqliteStore) -> None:
    engine = LocalEngine(store=store, model=ScriptedModel(priced))
    first = await engine.execute(chain(Budget(max_tokens=200)))
    assert "over its max_tokens of 200" in (first.error or "")

    again = await engine.resume(
        chain(Budget(max_tokens=200)), first.run_id, budget=Budget(max_tokens=10_000)
    )

    assert "over its max_tokens of 200" in (again.error or "")  # the lower limit wins


# -- the loop detector -----------------------------------------------------------------------


def drafting_loop(*tools: object) -> Workflow:
    return Workflow(
        name="drafting",
        agents=[Agent(name="writer", tools=tools)],
        tasks=[
            Task(
                id="revise",
                loop=LoopSpec(
                    until="draft == 'perfect'",
                    max_iterations=10,
                    tasks=(Task(id="draft", agent="writer", instruction="Draft it"),),
                ),
            )
        ],
    )


@tool
def search(q: str) -> str:
    """Search the web."""
    return f"results for {q}"


async def test_the_same_answer_without_progress_stops_the_run(store: SqliteStore) -> None:
    result = await execute(store, drafting_loop(), ScriptedModel({"draft": ["same"] * 10}))

    stop = await stopped(store, result, "task:revise/draft", "loop")
    assert (stop.used, stop.allowed) == (3, 2)
    assert stop.reason.startswith("writer got the same answer from model 'scripted'")
    assert "3 times without a new context write (task 'revise/draft'): 'same'" in stop.reason
    assert result.context == {"draft": "same"}
    # the first write was progress; three more identical iterations are the loop
    assert started(result.events).count("revise/draft") == 4


async def test_a_resume_counts_repeats_afresh(store: SqliteStore) -> None:
    first = await execute(store, drafting_loop(), ScriptedModel({"draft": ["same"] * 10}))
    await stopped(store, first, "task:revise/draft", "loop")

    again = await LocalEngine(store=store, model=ScriptedModel({"draft": ["same"] * 10})).resume(
        drafting_loop(), first.run_id
    )

    resumed = next(e.seq for e in again.events if e.kind == "run_resumed")
    later = tuple(e for e in again.events if e.seq > resumed)
    assert started(later) == ["revise", "revise/draft", "revise/draft", "revise/draft"]
    stops = [e for e in later if isinstance(e, BudgetExceeded)]
    assert [(s.limit, s.used) for s in stops] == [("loop", 3)]


async def test_the_same_tool_call_without_progress_stops_the_run(store: SqliteStore) -> None:
    call = {"tool_call": {"name": "search", "arguments": {"q": "x"}}}
    model = ScriptedModel({"draft": [call, "same"] * 10})

    result = await execute(store, drafting_loop(search), model)

    stop = await stopped(store, result, "task:revise/draft", "loop")
    assert stop.reason == (
        "writer called search({'q': 'x'}) 3 times without a new context write (task 'revise/draft')"
    )
    assert result.error == f"budget exceeded: {stop.reason}"


async def test_repeated_calls_that_make_progress_go_on(store: SqliteStore) -> None:
    call = {"tool_call": {"name": "search", "arguments": {"q": "x"}}}
    answers = [reply for n in range(1, 6) for reply in (call, f"v{n}")] + [call, "perfect"]

    result = await execute(store, drafting_loop(search), ScriptedModel({"draft": answers}))

    assert result.ok, result.error
    assert result.output == "perfect"


async def test_retries_are_not_taken_for_a_loop(store: SqliteStore) -> None:
    """Three attempts that repeat the same tool call fail as the retry policy says."""
    busy = ModelError("busy", kind="server")
    call = {"tool_call": {"name": "search", "arguments": {"q": "x"}}}
    flow = Workflow(
        name="flaky",
        agents=[Agent(name="writer", tools=[search])],
        tasks=[Task(id="draft", agent="writer", instruction="Draft it")],
    )
    engine = LocalEngine(
        store=store,
        model=ScriptedModel({"draft": [call, busy] * 4}),
        retry=RetryPolicy(max_attempts=4, initial_backoff=timedelta(0), jitter=False),
    )

    result = await engine.execute(flow)

    assert result.status == "failed"
    assert result.error is not None
    assert "busy" in result.error
    assert not [e for e in result.events if isinstance(e, BudgetExceeded)]
    assert len([e for e in result.events if isinstance(e, ToolCalled)]) == 4


def test_identical_tool_calls_within_one_attempt_are_a_loop() -> None:
    """A backstop: ``engine.attempt`` answers such repeats from its cache and logs none."""
    guard = Guard(drafting_loop(search), clock=ManualClock())
    at = datetime(2026, 1, 1, tzinfo=UTC)
    head = {"run_id": RunId("r"), "at": at, "task_id": TaskId("draft")}
    searched = ToolCalled(seq=0, **head, agent="writer", tool="search", arguments={"q": "x"})

    guard.observe(TaskStarted(seq=0, **head, agent="writer"))
    guard.observe(searched)
    guard.observe(searched)
    guard.observe(ContextWritten(seq=0, run_id=RunId("r"), at=at, key="notes", version=1,
                                 value="new", task_id=None, agent=None))  # fmt: skip
    guard.observe(searched)
    guard.observe(searched)
    assert guard.stop is None  # progress in between: two and two
    guard.observe(searched)

    assert guard.stop is not None
    assert guard.stop.reason == (
        "writer called search({'q': 'x'}) 3 times without a new context write (task 'draft')"
    )


@pytest.mark.parametrize(
    ("key", "output", "is_progress"),
    [("notes", "new", True), ("notes", "old", False), (None, "new", False)],
)
def test_a_task_success_that_writes_a_new_value_is_progress(
    key: str | None, output: str, is_progress: bool
) -> None:
    """Since schema 12 a task's success records its output's write: a changed value there is
    progress as a ``context_written`` is; the same value again, or no write, is not."""
    guard = Guard(drafting_loop(search), clock=ManualClock())
    at = datetime(2026, 1, 1, tzinfo=UTC)
    head = {"run_id": RunId("r"), "at": at, "task_id": TaskId("draft")}
    searched = ToolCalled(seq=0, **head, agent="writer", tool="search", arguments={"q": "x"})
    guard.observe(ContextWritten(seq=0, run_id=RunId("r"), at=at, key="notes", version=1,
                                 value="old", task_id=None, agent=None))  # fmt: skip

    guard.observe(TaskStarted(seq=0, **head, agent="writer"))
    guard.observe(searched)
    guard.observe(searched)
    guard.observe(TaskSucceeded(seq=0, **head, agent="writer", output=output, key=key,
                                version=2 if key else None))  # fmt: skip
    guard.observe(searched)

    assert (guard.stop is None) == is_progress


# -- budgets as data ------------------------------------------------------------------------


def test_budgets_load_from_yaml() -> None:
    flow = parse_workflow(
        """
        name: budgeted
        budget: {max_tokens: 1000, max_cost: 0.5, max_wall_time: 1m30s, max_tasks: 4}
        agents:
          writer: {budget: {max_model_calls: 3}}
        tasks:
          - {id: draft, agent: writer, budget: {max_wall_time: 20}}
        """
    )

    assert flow.budget == Budget(
        max_tokens=1000, max_cost=0.5, max_wall_time=timedelta(seconds=90), max_tasks=4
    )
    assert flow.agents[0].budget == Budget(max_model_calls=3)
    assert flow.tasks[0].budget == Budget(max_wall_time=timedelta(seconds=20))


def test_max_tasks_belongs_to_the_workflows_budget() -> None:
    flow = chain(writer=Budget(max_tasks=2), b=Budget(max_tasks=1))

    with pytest.raises(WorkflowValidationError) as caught:
        asyncio.run(LocalEngine(store=SqliteStore(":memory:")).execute(flow))

    messages = [p.message for p in caught.value.problems]
    assert any(m.startswith("agent 'writer' has a budget with max_tasks") for m in messages)
    assert any(m.startswith("task 'b' has a budget with max_tasks") for m in messages)


def test_tighten_keeps_the_lower_of_each_limit() -> None:
    tight = Budget(max_tokens=10, max_cost=5.0).tighten(Budget(max_tokens=0, max_model_calls=2))
    assert tight == Budget(max_tokens=0, max_cost=5.0, max_model_calls=2)
