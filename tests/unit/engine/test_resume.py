"""Resume and replay: a run continues from its log; nothing that completed is done again."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import replace
from subprocess import PIPE

import pytest

from podium import (
    Agent,
    ConfigError,
    LoopSpec,
    ModelRequest,
    ScriptedModel,
    SqliteStore,
    Task,
    Workflow,
    tool,
)
from podium.engine import LocalEngine
from podium.event import Event, TaskSucceeded, dump_event, recorded_write
from podium.ids import RunId
from podium.models.base import ToolCall
from podium.policy import RetryPolicy
from podium.run import RunResult, project
from podium.tool import ToolContext

NO_RETRY = RetryPolicy(max_attempts=1)


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    async with SqliteStore(":memory:") as store:
        yield store


def engine(store: SqliteStore, model: ScriptedModel) -> LocalEngine:
    return LocalEngine(store=store, model=model, retry=NO_RETRY)


async def interrupt(
    store: SqliteStore, flow: Workflow, model: ScriptedModel, gate: asyncio.Event
) -> str:
    """Run ``flow`` until the model sets ``gate``, then cancel it (as Ctrl-C would)."""
    running = asyncio.get_running_loop().create_task(engine(store, model).execute(flow))
    await gate.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    (summary,) = await store.list_runs()
    assert summary.status == "cancelled"
    return summary.run_id


def blocking_at(
    task_id: str, gate: asyncio.Event, answers: Callable[[ModelRequest], str]
) -> ScriptedModel:
    """A model that answers with ``answers`` but hangs (after setting ``gate``) on ``task_id``."""
    never = asyncio.Event()

    async def answer(request: ModelRequest) -> str:
        if request.caller and request.caller.task_id == task_id:
            gate.set()
            await never.wait()
        return answers(request)

    return ScriptedModel(answer)


def by_task(request: ModelRequest) -> str:
    return f"{request.caller.task_id if request.caller else '?'} done"


def succeeded(events: tuple[Event, ...] | list[Event]) -> Counter[tuple[str, int]]:
    return Counter(
        (e.task_id, e.iteration)  # type: ignore[attr-defined]
        for e in events
        if e.kind == "task_succeeded"
    )


CHAIN = Workflow(
    name="chain",
    agents=[Agent(name="a")],
    tasks=[
        Task(id="first", agent="a", instruction="1"),
        Task(id="second", agent="a", instruction="2 after {{ first }}", needs=("first",)),
        Task(id="third", agent="a", instruction="3 after {{ second }}", needs=("second",)),
    ],
)


async def test_completed_tasks_are_not_run_again(store: SqliteStore) -> None:
    gate = asyncio.Event()
    run_id = await interrupt(store, CHAIN, blocking_at("second", gate, by_task), gate)

    model = ScriptedModel(by_task)
    result = await engine(store, model).resume(CHAIN, run_id)

    assert result.ok
    assert result.run_id == run_id
    assert [c.caller.task_id for c in model.calls if c.caller] == ["second", "third"]
    assert result.output == "third done"
    assert model.calls[0].messages[-1].content == "2 after first done"
    events = await store.read(run_id)
    assert all(n == 1 for n in succeeded(events).values())
    kinds = [e.kind for e in events]
    assert kinds.count("run_resumed") == 1
    assert kinds[-1] == "run_completed"
    assert project(run_id, events).status == "succeeded"


def with_separate_writes(events: Sequence[Event]) -> list[Event]:
    """``events`` as podium logged them before schema 12: each task's output write in its own
    ``context_written``, just before the ``task_succeeded``, which records no write."""
    log: list[Event] = []
    for event in events:
        written = recorded_write(event)
        if isinstance(event, TaskSucceeded) and written is not None:
            log.append(replace(written, seq=len(log) + 1))
            event = replace(event, key=None, version=None)
        log.append(replace(event, seq=len(log) + 1))
    return log


@pytest.mark.parametrize("is_separate", [False, True], ids=["v12", "v11"])
async def test_a_resumed_run_rebuilds_the_context_from_its_logged_writes(
    store: SqliteStore, is_separate: bool
) -> None:
    gate = asyncio.Event()
    run_id = await interrupt(store, CHAIN, blocking_at("second", gate, by_task), gate)
    log = await store.read(run_id)
    assert "context_written" not in {e.kind for e in log}  # the success records the write
    first = next(e for e in log if isinstance(e, TaskSucceeded))
    assert (first.task_id, first.key, first.version, first.output) == (
        "first",
        "first",
        1,
        "first done",
    )
    if is_separate:
        log = with_separate_writes(log)

    async with SqliteStore(":memory:") as older:
        await older.append(RunId(run_id), log)
        model = ScriptedModel(by_task)
        result = await engine(older, model).resume(CHAIN, run_id)

    assert result.ok, result.error
    assert [c.caller.task_id for c in model.calls if c.caller] == ["second", "third"]
    assert model.calls[0].messages[-1].content == "2 after first done"  # read from the log
    assert result.context == {"first": "first done", "second": "second done", "third": "third done"}
    writes = project(RunId(run_id), result.events).writes
    assert [(w.key, w.version, w.value, w.task_id, w.agent) for w in writes] == [
        ("first", 1, "first done", "first", "a"),
        ("second", 1, "second done", "second", "a"),
        ("third", 1, "third done", "third", "a"),
    ]


async def test_an_in_flight_task_replays_its_completed_calls(store: SqliteStore) -> None:
    charges: list[str] = []

    @tool
    def charge(amount: int, ctx: ToolContext) -> str:
        """Charge a card."""
        charges.append(ctx.idempotency_key)
        return f"charged {amount}"

    flow = Workflow(
        name="pay",
        agents=[Agent(name="cashier", tools=[charge])],
        tasks=[Task(id="pay", agent="cashier", instruction="charge 5")],
    )
    gate, never = asyncio.Event(), asyncio.Event()
    calls = 0

    async def first_life(request: ModelRequest) -> str | ToolCall:
        nonlocal calls
        calls += 1
        if calls == 1:
            return ToolCall(id="c1", name="charge", arguments={"amount": 5})
        gate.set()  # the second model call is in flight when the process "dies"
        await never.wait()
        return "unreachable"

    run_id = await interrupt(store, flow, ScriptedModel(first_life), gate)
    assert len(charges) == 1

    second_life = ScriptedModel(["Charged 5."])
    result = await engine(store, second_life).resume(flow, run_id)

    assert result.ok
    assert result.output == "Charged 5."
    assert len(charges) == 1  # the completed charge was not repeated
    assert len(second_life.calls) == 1  # the completed model call was not paid for again
    assert "\ncharged 5\n" in second_life.calls[0].messages[-1].content  # it saw the result
    model_calls = [e for e in await store.read(run_id) if e.kind == "model_called"]
    assert len(model_calls) == 2


async def test_a_loop_resumes_in_the_iteration_it_was_in(store: SqliteStore) -> None:
    flow = Workflow(
        name="revise",
        agents=[Agent(name="writer"), Agent(name="reviewer")],
        tasks=[
            Task(
                id="revise",
                loop=LoopSpec(
                    tasks=(
                        Task(id="draft", agent="writer", instruction="draft"),
                        Task(id="review", agent="reviewer", instruction="ok?", needs=("draft",)),
                    ),
                    until="review == 'yes'",
                    max_iterations=3,
                ),
            )
        ],
        output="draft",
    )
    gate, never = asyncio.Event(), asyncio.Event()
    seen: list[str] = []

    async def first_life(request: ModelRequest) -> str:
        name = request.caller.task_id if request.caller else ""
        seen.append(name)
        if name == "revise/review" and seen.count(name) == 2:
            gate.set()
            await never.wait()
        return "no" if name == "revise/review" else f"draft {seen.count(name)}"

    run_id = await interrupt(store, flow, ScriptedModel(first_life), gate)

    second_life = ScriptedModel({"review": ["yes"]})
    result = await engine(store, second_life).resume(flow, run_id)

    assert result.ok
    assert result.output == "draft 2"
    assert [c.caller.task_id for c in second_life.calls if c.caller] == ["revise/review"]
    decisions = [
        (e.iteration, e.is_done)  # type: ignore[attr-defined]
        for e in await store.read(run_id)
        if e.kind == "loop_iterated"
    ]
    assert decisions == [(1, False), (2, True)]


async def test_a_failed_task_is_attempted_again_on_resume(store: SqliteStore) -> None:
    from podium import ModelError

    first = await engine(
        store, ScriptedModel({"first": ["ok"], "second": [ModelError("down")]})
    ).execute(CHAIN)
    assert first.status == "failed"

    model = ScriptedModel(by_task)
    result = await engine(store, model).resume(CHAIN, first.run_id)

    assert result.ok
    assert [c.caller.task_id for c in model.calls if c.caller] == ["second", "third"]


async def test_a_task_that_failed_on_its_answer_asks_afresh_on_resume(
    store: SqliteStore,
) -> None:
    # its recorded answer is what failed it: replaying it would fail the task the same way
    from pydantic import BaseModel

    class Verdict(BaseModel):
        approved: bool

    judge = Agent(name="judge", output_schema=Verdict, max_repairs=0)
    flow = Workflow(name="judged", agents=(judge,), tasks=(Task(id="judge", agent="judge"),))
    first = await engine(store, ScriptedModel({"judge": ["not json"]})).execute(flow)
    assert first.status == "failed"

    model = ScriptedModel({"judge": [{"approved": True}]})
    result = await engine(store, model).resume(flow, first.run_id)

    assert result.ok, result.error
    assert result.output == {"approved": True}
    assert len(model.calls) == 1


async def test_a_succeeded_run_cannot_be_resumed_and_an_unknown_one_is_named(
    store: SqliteStore,
) -> None:
    done = await engine(store, ScriptedModel(by_task)).execute(CHAIN)
    with pytest.raises(ConfigError, match="already succeeded"):
        await engine(store, ScriptedModel([])).resume(CHAIN, done.run_id)
    with pytest.raises(ConfigError, match="no run 'nope'"):
        await engine(store, ScriptedModel([])).resume(CHAIN, "nope")  # type: ignore[arg-type]


async def test_replay_reproduces_a_run_without_calling_any_model(store: SqliteStore) -> None:
    original = await engine(store, ScriptedModel(by_task)).execute(CHAIN)
    silent = ScriptedModel([])  # raises if it is called at all

    replayed: RunResult = await engine(store, silent).replay(CHAIN, original.run_id)

    assert replayed.ok
    assert replayed.run_id != original.run_id
    assert replayed.output == original.output
    assert replayed.context == original.context
    assert silent.calls == []


async def test_replay_says_where_changed_code_diverges(store: SqliteStore) -> None:
    original = await engine(store, ScriptedModel(by_task)).execute(CHAIN)
    longer = CHAIN.model_copy(
        update={
            "tasks": (*CHAIN.tasks, Task(id="fourth", agent="a", instruction="4", needs=("third",)))
        }
    )

    replayed = await engine(store, ScriptedModel([])).replay(longer, original.run_id)

    assert replayed.status == "failed"
    assert "ReplayDivergedError" in (replayed.tasks["fourth"].error or "")
    assert "the code asked for a model call, the recorded run had nothing more" in (
        replayed.tasks["fourth"].error or ""
    )
    assert replayed.tasks["third"].status == "succeeded"


async def test_a_replay_keeps_the_routers_choices_and_teaches_it_nothing(
    store: SqliteStore,
) -> None:
    from podium.router import learn
    from podium.telemetry.metrics import facts_of

    flow = Workflow(
        name="cap",
        agents=[Agent(name="x", capabilities=("write",)), Agent(name="y", capabilities=("write",))],
        tasks=[Task(id="t", capability="write", instruction="write")],
    )
    original = await engine(store, ScriptedModel(by_task)).execute(flow)
    chosen = original.tasks["t"].agent
    for _ in range(4):
        replayed = await engine(store, ScriptedModel([])).replay(flow, original.run_id)
        assert replayed.ok
        assert replayed.tasks["t"].agent == chosen
        log = await store.read(replayed.run_id)
        assert facts_of(log) is None  # metrics skip replays
        assert learn([log]) == {}  # and so does the router


async def test_a_scripted_workflow_resumed_afresh_goes_on_with_its_script(
    store: SqliteStore,
) -> None:
    from podium.budget import Budget

    flow = Workflow(
        name="drafts",
        model="scripted",
        agents=[Agent(name="writer"), Agent(name="reviewer")],
        tasks=[
            Task(
                id="revise",
                loop=LoopSpec(
                    until="review == 'ok'",
                    max_iterations=3,
                    tasks=(
                        Task(id="draft", agent="writer", instruction="draft"),
                        Task(
                            id="review",
                            agent="reviewer",
                            instruction="{{ draft }}",
                            needs=("draft",),
                        ),
                    ),
                ),
            )
        ],
        output="draft",
        scripted={"draft": ["v1", "v2", "v3"], "review": ["redo", "ok", "never"]},
    )
    stopped = await LocalEngine(store=store).execute(flow, budget=Budget(max_model_calls=2))
    assert stopped.status == "failed"  # stopped by its budget after draft v1 and its review

    # A new engine builds the scripted model afresh, as `podium resume` does in a new process.
    resumed = await LocalEngine(store=store).resume(
        flow, stopped.run_id, budget=Budget(max_model_calls=10)
    )

    assert resumed.ok, resumed.error
    assert resumed.output == "v2"
    calls = [e for e in await store.read(stopped.run_id) if e.kind == "model_called"]
    assert [c.response["text"] for c in calls] == ["v1", "redo", "v2", "ok"]  # type: ignore[attr-defined]


async def test_a_run_killed_before_writing_all_its_inputs_resumes_with_all_of_them(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_TOKEN", "tok-9f8e7d6c")
    flow = Workflow(
        name="inputs",
        inputs={name: {"default": name.upper()} for name in ("a", "b", "c")}  # type: ignore[misc]
        | {"token": {"env": "TEST_TOKEN"}},
        agents=[Agent(name="w")],
        tasks=[Task(id="t", agent="w", instruction="{{ a }} {{ b }} {{ c }} {{ token }}")],
    )
    echo = ScriptedModel(lambda request: request.messages[-1].content)
    full = await engine(store, echo).execute(flow)
    assert full.output == "A B C [redacted]"  # the model saw the token; the log masks it
    log = await store.read(full.run_id)
    # The process died after run_started and the write of input a: b, c and token are lost.
    first_write = next(i for i, e in enumerate(log) if e.kind == "context_written")
    async with SqliteStore(":memory:") as crashed:
        await crashed.append(full.run_id, log[: first_write + 1])

        resumed = await engine(crashed, ScriptedModel(lambda r: r.messages[-1].content)).resume(
            flow, full.run_id
        )

        assert resumed.ok, resumed.error
        assert resumed.context["b"] == "B" and resumed.context["c"] == "C"
        calls = [e for e in resumed.events if e.kind == "model_called"]
        assert [c.response["text"] for c in calls] == ["A B C [redacted]"]  # type: ignore[attr-defined]
        assert "tok-9f8e7d6c" not in json.dumps([dump_event(e).decode() for e in resumed.events])


class _RacedStore(SqliteStore):
    """A real store where another process resumes the run between our read and our append."""

    rival: int = 0

    async def append(self, run_id: RunId, events: Sequence[Event]) -> None:
        if self.rival and events and events[0].kind == "run_resumed":
            rival, self.rival = self.rival, 0
            await super().append(run_id, [replace(events[0], pid=rival)])
        await super().append(run_id, events)


@pytest.fixture
def rival() -> Iterator[subprocess.Popen[bytes]]:
    """A live process of ours, standing for another ``podium resume`` of the same run."""
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=PIPE)
    yield process
    process.communicate(b"")


async def test_a_resume_that_loses_the_race_says_the_run_is_still_running(
    rival: subprocess.Popen[bytes],
) -> None:
    from podium import ModelError

    async with _RacedStore(":memory:") as store:
        failing = ScriptedModel({"first": ["ok"], "second": [ModelError("down")]})
        first = await engine(store, failing).execute(CHAIN)
        store.rival = rival.pid

        with pytest.raises(ConfigError) as caught:
            await engine(store, ScriptedModel(by_task)).resume(CHAIN, first.run_id)

        message = f"run {first.run_id} is still running (process {rival.pid}): resume it"
        assert str(caught.value).startswith(message)
        kinds = [e.kind for e in await store.read(first.run_id)]
        assert kinds.count("run_resumed") == 1  # the winner's; ours was not written


async def test_a_rerouted_task_resumes_with_each_agent_fed_only_its_own_calls(
    store: SqliteStore,
) -> None:
    from podium import ModelError
    from podium.policy import Policy

    at_tool = asyncio.Event()
    never = asyncio.Event()

    @tool
    async def lookup() -> str:
        """Look something up (it hangs, and the run is cancelled there)."""
        at_tool.set()
        await never.wait()
        return "unreachable"

    policy = Policy(retry=RetryPolicy(max_attempts=1), fallbacks=("agent:backup",))
    flow_with = lambda writer, backup: Workflow(  # noqa: E731
        name="rerouted",
        agents=[
            Agent(name="writer", model=writer, policy=policy),
            Agent(name="backup", model=backup, tools=(lookup,)),
        ],
        tasks=[Task(id="t", agent="writer", instruction="write")],
    )
    backup = ScriptedModel([ToolCall(id="c1", name="lookup", arguments={})])
    failing = flow_with(ScriptedModel([ModelError("down")]), backup)
    running = asyncio.get_running_loop().create_task(LocalEngine(store=store).execute(failing))
    await at_tool.wait()  # the backup called its tool: its model call is in the log
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    (summary,) = await store.list_runs()

    writer = ScriptedModel(["from the writer, asked afresh"])
    resumed = await LocalEngine(store=store).resume(
        flow_with(writer, ScriptedModel([])), summary.run_id
    )

    assert resumed.ok, resumed.error
    assert resumed.output == "from the writer, asked afresh"
    assert len(writer.calls) == 1  # the backup's recorded tool call was not fed to the writer
    kinds = [e.kind for e in resumed.events]
    after = kinds[kinds.index("run_resumed") :]
    assert "tool_denied" not in after
    assert "tool_called" not in after


async def test_nested_loops_resume_each_outer_iteration_on_its_own(store: SqliteStore) -> None:
    inner = LoopSpec(
        until="true", max_iterations=1, tasks=(Task(id="draft", agent="w", instruction="go"),)
    )
    flow = Workflow(
        name="nested",
        agents=[Agent(name="w")],
        tasks=[
            Task(
                id="rounds",
                loop=LoopSpec(
                    until="false", max_iterations=2, tasks=(Task(id="inner", loop=inner),)
                ),
            )
        ],
        output="draft",
    )
    second_round = asyncio.Event()
    never = asyncio.Event()
    drafts = 0

    async def first_life(request: ModelRequest) -> str:
        nonlocal drafts
        drafts += 1
        if drafts == 2:  # outer iteration 2, inner iteration 1
            second_round.set()
            await never.wait()
        return f"draft {drafts}"

    run_id = await interrupt(store, flow, ScriptedModel(first_life), second_round)
    second_life = ScriptedModel(["draft of round 2"])

    resumed = await engine(store, second_life).resume(flow, run_id)

    assert resumed.ok, resumed.error
    assert resumed.output == "draft of round 2"  # not round 1's draft, taken as done
    second_life.assert_complete()
    ids = [e.task_id for e in resumed.events if e.kind == "task_succeeded"]  # type: ignore[attr-defined]
    assert "rounds/inner#1/draft" in ids and "rounds/inner#2/draft" in ids
