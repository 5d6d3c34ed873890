"""The local engine end to end, with the scripted model and a real SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from podium import (
    Agent,
    AtLeast,
    ConfigError,
    KeySpec,
    LoopSpec,
    MapSpec,
    ModelError,
    ModelRequest,
    ScriptedModel,
    SqliteStore,
    Task,
    Workflow,
    WorkflowValidationError,
    tool,
)
from podium.engine import LocalEngine
from podium.event import Event, recorded_write
from podium.ids import SequentialIdFactory
from podium.models.base import ToolCall
from podium.policy import RetryPolicy
from podium.run import RunResult, project

NO_RETRY = RetryPolicy(max_attempts=1)


class Review(BaseModel):
    approved: bool
    feedback: str


class Ticket(BaseModel):
    category: Literal["billing", "technical"]
    urgency: int


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    async with SqliteStore(":memory:") as store:
        yield store


async def run(
    store: SqliteStore,
    flow: Workflow,
    model: ScriptedModel,
    inputs: dict[str, object] | None = None,
    **options: object,
) -> RunResult:
    options.setdefault("retry", NO_RETRY)
    engine = LocalEngine(store=store, model=model, **options)  # type: ignore[arg-type]
    return await engine.execute(flow, inputs)  # type: ignore[arg-type]


def kinds(events: tuple[Event, ...], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]


def team(*names: str, **agents: Agent) -> tuple[Agent, ...]:
    return tuple(Agent(name=n) for n in names) + tuple(agents.values())


async def test_outputs_flow_through_the_context_into_later_prompts(store: SqliteStore) -> None:
    model = ScriptedModel(
        {"market": ["Market grows 20%."], "rules": ["Helmets required."], "draft": ["Report."]}
    )
    flow = Workflow(
        name="report",
        inputs={"topic": {"default": "e-bikes"}},
        agents=team("researcher", "writer"),
        tasks=[
            Task(id="market", agent="researcher", instruction="Size of {{ topic }}"),
            Task(id="rules", agent="researcher", instruction="Rules for {{ topic }}"),
            Task(
                id="draft",
                agent="writer",
                instruction="Write: {{ market }} / {{ rules }}",
                needs=("market", "rules"),
            ),
        ],
    )
    result = await run(store, flow, model)
    assert result.ok and result.output == "Report."
    draft_prompt = model.calls[-1].messages[-1].content
    assert draft_prompt == "Write: Market grows 20%. / Helmets required."
    assert model.calls[0].messages[-1].content == "Size of e-bikes"
    model.assert_complete()
    # the store holds the same log the result does, and the fold of it is the result
    stored = await store.read(result.run_id)
    assert tuple(stored) == result.events
    assert project(result.run_id, stored).output == "Report."


async def test_every_context_write_has_provenance(store: SqliteStore) -> None:
    flow = Workflow(
        name="w",
        inputs={"topic": {"default": "x"}},
        agents=team("a"),
        tasks=[Task(id="t", agent="a", instruction="{{ topic }}", output="answer")],
    )
    result = await run(store, flow, ScriptedModel(["42"]))
    writes = [
        (w.key, w.version, w.value, w.task_id, w.agent)
        for w in map(recorded_write, result.events)
        if w is not None
    ]
    assert writes == [("topic", 1, "x", None, None), ("answer", 1, "42", "t", "a")]
    assert result.context == {"topic": "x", "answer": "42"}
    # the input has its own event; the task's success records the write of its output
    assert [e.kind for e in result.events if recorded_write(e) is not None] == [
        "context_written",
        "task_succeeded",
    ]


async def test_condition_skips_a_task_and_its_dependents(store: SqliteStore) -> None:
    flow = Workflow(
        name="w",
        inputs={"urgent": {"default": False}},
        agents=team("a"),
        tasks=[
            Task(id="page", agent="a", instruction="page", when="urgent"),
            Task(id="after", agent="a", instruction="x", needs=("page",)),
            Task(id="log", agent="a", instruction="log"),
        ],
        output="log",
    )
    result = await run(store, flow, ScriptedModel({"log": ["logged"]}))
    assert result.ok
    assert result.tasks["page"].status == "skipped"
    assert result.tasks["page"].error == "condition 'urgent' is false"
    assert result.tasks["after"].status == "skipped"
    result = await run(
        store, flow, ScriptedModel({"page": ["p"], "after": ["a"], "log": ["l"]}), {"urgent": True}
    )
    assert result.tasks["after"].status == "succeeded"


async def test_router_runs_only_the_chosen_specialist(store: SqliteStore) -> None:
    flow = Workflow(
        name="triage",
        agents=team("router", "billing", "tech", "qa"),
        tasks=[
            Task(id="route", agent="router", instruction="Which team?", routes=("bill", "fix")),
            Task(id="bill", agent="billing", instruction="refund", needs=("route",)),
            Task(id="fix", agent="tech", instruction="debug", needs=("route",)),
            Task(
                id="reply",
                agent="qa",
                instruction="{{ bill }}{{ fix }}",
                needs=("bill", "fix"),
                join="any",
            ),
        ],
    )
    model = ScriptedModel(
        {
            "route": [{"choice": "bill", "reason": "refund asked"}],
            "bill": ["Refunded."],
            "reply": ["Done."],
        }
    )
    result = await run(store, flow, model)
    assert result.ok and result.output == "Done."
    assert result.tasks["fix"].status == "skipped"
    assert result.tasks["route"].output == {"choice": "bill", "reason": "refund asked"}
    schema = model.calls[0].output_schema
    assert schema is not None and schema["properties"]["choice"]["enum"] == ["bill", "fix"]  # type: ignore[index]


async def test_join_at_least_proceeds_when_enough_needs_succeed(store: SqliteStore) -> None:
    flow = Workflow(
        name="w",
        agents=team("a"),
        tasks=[
            Task(id="s1", agent="a", instruction="1"),
            Task(id="s2", agent="a", instruction="2"),
            Task(id="s3", agent="a", instruction="3"),
            Task(
                id="vote",
                agent="a",
                instruction="v",
                needs=("s1", "s2", "s3"),
                join=AtLeast(at_least=2),
            ),
        ],
    )
    model = ScriptedModel({"s1": [ModelError("down")], "s2": ["b"], "s3": ["c"], "vote": ["ok"]})
    result = await run(store, flow, model)
    assert result.tasks["vote"].status == "succeeded"
    assert result.status == "failed"  # s1 failed, so the run reports it
    assert "task 's1' failed: ModelError: down" in (result.error or "")


async def test_loop_revises_until_the_reviewer_approves(store: SqliteStore) -> None:
    flow = Workflow(
        name="w",
        agents=(Agent(name="writer"), Agent(name="reviewer", output_schema=Review)),
        tasks=[
            Task(
                id="revise",
                loop=LoopSpec(
                    tasks=(
                        Task(
                            id="draft",
                            agent="writer",
                            instruction="Draft. Feedback: {{ review.feedback }}",
                        ),
                        Task(
                            id="review",
                            agent="reviewer",
                            instruction="Review {{ draft }}",
                            needs=("draft",),
                        ),
                    ),
                    until="review.approved",
                    max_iterations=5,
                ),
            )
        ],
        output="draft",
    )
    model = ScriptedModel(
        {
            "draft": ["v1", "v2"],
            "review": [
                {"approved": False, "feedback": "add numbers"},
                {"approved": True, "feedback": "good"},
            ],
        }
    )
    result = await run(store, flow, model)
    assert result.ok and result.output == "v2"
    iterations = kinds(result.events, "loop_iterated")
    assert [(e.iteration, e.is_done) for e in iterations] == [(1, False), (2, True)]  # type: ignore[attr-defined]
    assert model.calls[0].messages[-1].content == "Draft. Feedback: "
    assert model.calls[2].messages[-1].content == "Draft. Feedback: add numbers"
    assert result.tasks["revise/draft"].iteration == 2


async def test_loop_stops_at_its_bound(store: SqliteStore) -> None:
    flow = Workflow(
        name="w",
        agents=(Agent(name="reviewer", output_schema=Review),),
        tasks=[
            Task(
                id="l",
                loop=LoopSpec(
                    tasks=(Task(id="review", agent="reviewer", instruction="r"),),
                    until="review.approved",
                    max_iterations=3,
                ),
            )
        ],
    )
    model = ScriptedModel(
        {"review": [{"approved": False, "feedback": "no"}]}, when_exhausted="repeat_last"
    )
    result = await run(store, flow, model)
    assert result.ok
    assert len(model.calls) == 3
    last = kinds(result.events, "loop_iterated")[-1]
    assert "stopping at max_iterations=3" in last.reason  # type: ignore[attr-defined]


async def test_map_runs_one_task_per_item_in_parallel_and_keeps_order(store: SqliteStore) -> None:
    in_flight = 0
    peak = 0

    async def extract(request: ModelRequest) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        in_flight -= 1
        return request.messages[-1].content.upper()

    flow = Workflow(
        name="w",
        inputs={"docs": {"default": ["lease", "nda", "supply"]}},
        agents=team("x", "y"),
        tasks=[
            Task(
                id="extract",
                map=MapSpec(
                    over="docs", item="doc", task=Task(id="one", agent="x", instruction="{{ doc }}")
                ),
            ),
            Task(
                id="reduce", agent="y", instruction="{{ extract | join(',') }}", needs=("extract",)
            ),
        ],
    )
    result = await run(store, flow, ScriptedModel(extract))
    assert result.context["extract"] == ["LEASE", "NDA", "SUPPLY"]
    assert result.output == "LEASE,NDA,SUPPLY"
    assert peak == 3
    assert {f"extract[{i}]" for i in range(3)} <= set(result.tasks)


async def test_map_over_something_that_is_not_a_list_fails_clearly(store: SqliteStore) -> None:
    flow = Workflow(
        name="w",
        inputs={"docs": {"default": "not a list"}},
        agents=team("x"),
        tasks=[
            Task(
                id="m",
                map=MapSpec(over="docs", task=Task(id="one", agent="x", instruction="{{ item }}")),
            )
        ],
    )
    result = await run(store, flow, ScriptedModel([]))
    assert result.status == "failed"
    assert "map over 'docs' needs a list, got str" in (result.error or "")


async def test_sub_workflow_gets_inputs_and_returns_its_output(store: SqliteStore) -> None:
    brief = Workflow(
        name="brief",
        inputs={"text": {"required": True}},
        agents=team("editor"),
        tasks=[Task(id="summarize", agent="editor", instruction="Summarize {{ text }}")],
    )
    flow = Workflow(
        name="w",
        agents=team("analyst"),
        tasks=[
            Task(id="analyze", agent="analyst", instruction="analyze"),
            Task(id="brief", workflow=brief, inputs={"text": "{{ analyze }}"}, needs=("analyze",)),
        ],
    )
    model = ScriptedModel({"analyze": ["three risks"], "summarize": ["One line."]})
    result = await run(store, flow, model)
    assert result.ok and result.output == "One line."
    assert model.calls[1].messages[-1].content == "Summarize three risks"
    keys = [w.key for w in map(recorded_write, result.events) if w is not None]
    assert keys == ["analyze", "brief/text", "brief/summarize", "brief"]


async def test_invalid_output_is_repaired_within_budget(store: SqliteStore) -> None:
    flow = Workflow(
        name="w",
        agents=(Agent(name="c", output_schema=Ticket),),
        tasks=[Task(id="classify", agent="c", instruction="t")],
    )
    model = ScriptedModel(["not json", {"category": "billing", "urgency": 2}])
    result = await run(store, flow, model)
    assert result.ok and result.output == {"category": "billing", "urgency": 2}
    rejected = kinds(result.events, "output_rejected")
    assert len(rejected) == 1
    assert "Answer again" in model.calls[1].messages[-1].content


async def test_each_repair_shows_only_the_latest_invalid_answer(store: SqliteStore) -> None:
    # a long invalid answer repeated in every repair would soon outgrow a small model's window
    flow = Workflow(
        name="w",
        agents=(Agent(name="c", output_schema=Ticket, max_repairs=2),),
        tasks=[Task(id="classify", agent="c", instruction="t")],
    )
    model = ScriptedModel(["first bad", "second bad", {"category": "billing", "urgency": 2}])
    result = await run(store, flow, model)

    assert result.ok
    third = [m.content for m in model.calls[2].messages]
    assert "second bad" in third
    assert "first bad" not in third
    assert len(model.calls[2].messages) == len(model.calls[1].messages)


async def test_output_still_invalid_after_repairs_fails_the_run_and_keeps_earlier_work(
    store: SqliteStore,
) -> None:
    flow = Workflow(
        name="w",
        agents=(Agent(name="r"), Agent(name="c", output_schema=Ticket, max_repairs=1)),
        tasks=[
            Task(id="read", agent="r", instruction="read"),
            Task(id="classify", agent="c", instruction="{{ read }}", needs=("read",)),
        ],
    )
    model = ScriptedModel(
        {
            "read": ["ticket text"],
            "classify": [{"category": "sales", "urgency": 1}, {"urgency": "high"}],
        }
    )
    result = await run(store, flow, model)
    assert result.status == "failed"
    assert result.tasks["classify"].error is not None
    assert result.tasks["classify"].error.startswith(
        "OutputValidationError: agent 'c' gave output that does not match"
    )
    assert "after 1 repairs" in (result.error or "")
    # what was written before the failure is still in the log
    stored = project(result.run_id, await store.read(result.run_id))
    assert stored.status == "failed"
    assert [w.key for w in stored.writes] == ["read"]
    assert len(kinds(result.events, "model_called")) == 3


async def test_tools_are_called_and_their_results_reach_the_model(store: SqliteStore) -> None:
    @tool
    def lookup_order(order_id: str) -> dict[str, str]:
        """Find an order."""
        return {"order_id": order_id, "status": "shipped"}

    flow = Workflow(
        name="w",
        agents=(Agent(name="a", tools=(lookup_order,)),),
        tasks=[Task(id="t", agent="a", instruction="where is A1?")],
    )
    model = ScriptedModel(
        [ToolCall(id="c1", name="lookup_order", arguments={"order_id": "A1"}), "It shipped."]
    )
    result = await run(store, flow, model)
    assert result.ok and result.output == "It shipped."
    (called,) = kinds(result.events, "tool_called")
    assert called.result == {"order_id": "A1", "status": "shipped"}  # type: ignore[attr-defined]
    assert model.calls[1].messages[-1].role == "tool"
    assert model.calls[0].tools[0].name == "lookup_order"


async def test_a_tool_that_raises_fails_its_task_with_a_clear_error(store: SqliteStore) -> None:
    def charge(amount: int) -> str:
        raise RuntimeError("card declined")

    flow = Workflow(
        name="w",
        agents=(Agent(name="a", tools=(charge,)),),
        tasks=[Task(id="pay", agent="a", instruction="pay")],
    )
    model = ScriptedModel([ToolCall(id="c1", name="charge", arguments={"amount": 5})])
    result = await run(store, flow, model)
    assert result.status == "failed"
    assert (
        result.error
        == "task 'pay' failed: ToolError: tool 'charge' raised RuntimeError: card declined"
    )
    (called,) = kinds(result.events, "tool_called")
    assert called.error == "tool 'charge' raised RuntimeError: card declined"  # type: ignore[attr-defined]


async def test_a_hanging_model_times_out(store: SqliteStore) -> None:
    never = asyncio.Event()

    async def hang(request: ModelRequest) -> str:
        await never.wait()
        return "unreachable"

    flow = Workflow(
        name="w",
        agents=team("a"),
        tasks=[Task(id="t", agent="a", instruction="x", timeout=timedelta(milliseconds=20))],
    )
    result = await run(store, flow, ScriptedModel(hang))
    assert result.status == "failed"
    failed = kinds(result.events, "task_failed")[0]
    assert failed.retryable and "timed out after" in failed.message  # type: ignore[attr-defined]


async def test_a_write_outside_the_agents_scope_is_refused(store: SqliteStore) -> None:
    flow = Workflow(
        name="w",
        agents=(Agent(name="intern", writes=("notes*",)),),
        tasks=[Task(id="t", agent="intern", instruction="x", output="final_answer")],
    )
    with pytest.raises(WorkflowValidationError, match=r"intern.*final_answer"):
        await run(store, flow, ScriptedModel(["x"]))
    assert await store.list_runs() == []


async def test_concurrent_writers_to_an_append_key_keep_every_value(store: SqliteStore) -> None:
    flow = Workflow(
        name="w",
        context={"findings": KeySpec(merge="append")},
        agents=team("a"),
        tasks=[Task(id=f"r{i}", agent="a", instruction=f"{i}", output="findings") for i in range(4)]
        + [
            Task(
                id="sum",
                agent="a",
                instruction="{{ findings | length }}",
                needs=("r0", "r1", "r2", "r3"),
            )
        ],
    )
    result = await run(store, flow, ScriptedModel(lambda r: r.messages[-1].content))
    assert sorted(result.context["findings"]) == ["0", "1", "2", "3"]  # type: ignore[arg-type]
    assert result.output == "4"
    versions = [e.version for e in kinds(result.events, "context_written") if e.key == "findings"]  # type: ignore[attr-defined]
    assert versions == [1, 2, 3, 4]


async def test_global_and_per_agent_concurrency_limits(store: SqliteStore) -> None:
    in_flight: dict[str, int] = {"fast": 0, "slow": 0}
    peaks: dict[str, int] = {"fast": 0, "slow": 0, "total": 0}

    async def answer(request: ModelRequest) -> str:
        agent = request.caller.agent if request.caller else ""
        in_flight[agent] += 1
        peaks[agent] = max(peaks[agent], in_flight[agent])
        peaks["total"] = max(peaks["total"], sum(in_flight.values()))
        for _ in range(5):
            await asyncio.sleep(0)
        in_flight[agent] -= 1
        return "ok"

    flow = Workflow(
        name="w",
        agents=(Agent(name="fast"), Agent(name="slow", max_concurrency=1)),
        tasks=[Task(id=f"f{i}", agent="fast", instruction="x") for i in range(6)]
        + [Task(id=f"s{i}", agent="slow", instruction="x") for i in range(3)],
        max_concurrency=3,
    )
    result = await run(store, flow, ScriptedModel(answer))
    assert result.ok
    assert peaks["total"] == 3
    assert peaks["slow"] == 1


async def test_cancelling_a_run_records_it_and_keeps_what_was_written(store: SqliteStore) -> None:
    started = asyncio.Event()
    never = asyncio.Event()

    async def answer(request: ModelRequest) -> str:
        if request.caller and request.caller.task_id == "second":
            started.set()
            await never.wait()
        return "done"

    flow = Workflow(
        name="w",
        agents=team("a"),
        tasks=[
            Task(id="first", agent="a", instruction="x"),
            Task(id="second", agent="a", instruction="y", needs=("first",)),
        ],
    )
    engine = LocalEngine(store=store, model=ScriptedModel(answer), ids=SequentialIdFactory())
    running = asyncio.get_running_loop().create_task(engine.execute(flow))
    await started.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    (summary,) = await store.list_runs()
    assert summary.status == "cancelled"
    state = project(summary.run_id, await store.read(summary.run_id))
    assert state.tasks["first"].status == "succeeded"
    assert [w.key for w in state.writes] == ["first"]


async def test_invalid_workflow_and_inputs_fail_before_a_run_starts(store: SqliteStore) -> None:
    flow = Workflow(
        name="w",
        inputs={"topic": {"required": True}},
        agents=team("a"),
        tasks=[Task(id="t", agent="a", instruction="{{ topic }}")],
    )
    with pytest.raises(ConfigError, match="input 'topic' is required"):
        await run(store, flow, ScriptedModel([]))
    with pytest.raises(ConfigError, match="unknown input 'topik'"):
        await run(store, flow, ScriptedModel([]), {"topic": "x", "topik": "y"})
    cyclic = Workflow(
        name="c",
        agents=team("a"),
        tasks=[Task(id="x", agent="a", needs=("y",)), Task(id="y", agent="b", needs=("x",))],
    )
    with pytest.raises(WorkflowValidationError) as caught:
        await run(store, cyclic, ScriptedModel([]))
    message = str(caught.value)
    assert "x -> y -> x" in message or "y -> x -> y" in message
    assert "'b'" in message
    assert await store.list_runs() == []


async def test_an_unknown_model_name_fails_before_the_run(store: SqliteStore) -> None:
    flow = Workflow(
        name="w", agents=(Agent(name="a", model="gpt-nine"),), tasks=[Task(id="t", agent="a")]
    )
    with pytest.raises(ConfigError, match="unknown model 'gpt-nine'"):
        await LocalEngine(store=store).execute(flow)
    assert await store.list_runs() == []


@st.composite
def workflows(draw: st.DrawFn, max_tasks: int = 20) -> Workflow:
    size = draw(st.integers(min_value=1, max_value=max_tasks))
    tasks = []
    for i in range(size):
        needs = draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()
        tasks.append(
            Task(
                id=f"t{i}",
                agent="a",
                instruction=f"task {i}",
                needs=tuple(f"t{n}" for n in sorted(needs)),
            )
        )
    return Workflow(name="random", agents=team("a"), tasks=draw(st.permutations(tasks)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflows())
def test_each_task_runs_once_after_its_needs(flow: Workflow) -> None:
    async def go() -> RunResult:
        async with SqliteStore(":memory:") as store:
            return await LocalEngine(store=store, model=ScriptedModel.echo()).execute(flow)

    result = asyncio.run(go())
    started = [e.task_id for e in kinds(result.events, "task_started")]  # type: ignore[attr-defined]
    assert sorted(started) == sorted(t.id for t in flow.tasks)
    seq = {(e.kind, getattr(e, "task_id", None)): e.seq for e in result.events}
    assert all(
        seq["task_succeeded", n] < seq["task_started", t.id] for t in flow.tasks for n in t.needs
    )
    assert [e.seq for e in result.events] == list(range(1, len(result.events) + 1))


async def test_a_repeated_tool_call_is_not_run_again_and_the_model_must_answer(
    store: SqliteStore,
) -> None:
    runs: list[str] = []

    @tool
    def refund_policy(region: str) -> str:
        """Refund rules for a region."""
        runs.append(region)
        return "30 days"

    flow = Workflow(
        name="w",
        agents=(Agent(name="a", tools=(refund_policy,)),),
        tasks=[Task(id="t", agent="a", instruction="policy?")],
    )
    again = ToolCall(id="c", name="refund_policy", arguments={"region": "EU"})
    model = ScriptedModel([again, again, "Refunds within 30 days."])
    result = await run(store, flow, model)
    assert result.ok
    assert runs == ["EU"]
    assert [c.tool_choice for c in model.calls] == ["auto", "auto", "none"]
    assert "you already called refund_policy" in model.calls[2].messages[-1].content


async def test_the_last_turn_forbids_tool_calls(store: SqliteStore) -> None:
    @tool
    def ping(n: int) -> int:
        """Echo."""
        return n

    flow = Workflow(
        name="w",
        agents=(Agent(name="a", tools=(ping,), max_turns=3),),
        tasks=[Task(id="t", agent="a", instruction="go")],
    )
    calls = [ToolCall(id=f"c{i}", name="ping", arguments={"n": i}) for i in range(2)]
    model = ScriptedModel([*calls, "done"])
    result = await run(store, flow, model)
    assert result.output == "done"
    assert [c.tool_choice for c in model.calls] == ["auto", "auto", "none"]


async def test_a_router_choice_is_an_event(store: SqliteStore) -> None:
    flow = Workflow(
        name="w",
        agents=team("r", "x"),
        tasks=[
            Task(id="route", agent="r", instruction="pick", routes=("left", "right")),
            Task(id="left", agent="x", instruction="l", needs=("route",)),
            Task(id="right", agent="x", instruction="r", needs=("route",)),
        ],
        output="route",
    )
    model = ScriptedModel(
        {"route": [{"choice": "right", "reason": "it is right"}], "right": ["ok"]}
    )
    result = await run(store, flow, model)
    (chosen,) = kinds(result.events, "route_chosen")
    assert (chosen.choice, chosen.reason) == ("right", "it is right")  # type: ignore[attr-defined]
    state = project(result.run_id, result.events)
    assert "route: routed to right (it is right)" in state.notes


async def test_a_scripted_tool_call_from_yaml_form(store: SqliteStore) -> None:
    @tool
    def lookup(order_id: str) -> str:
        """Find an order."""
        return f"{order_id}: shipped"

    flow = Workflow(
        name="w",
        agents=(Agent(name="a", tools=(lookup,)),),
        tasks=[Task(id="t", agent="a", instruction="where?")],
    )
    step = {"tool_call": {"name": "lookup", "arguments": {"order_id": "A1"}}}
    result = await run(store, flow, ScriptedModel([step, "Shipped."]))
    assert result.ok
    assert kinds(result.events, "tool_called")[0].result == "A1: shipped"  # type: ignore[attr-defined]


def _slow_answer() -> ScriptedModel:
    async def answer(request: ModelRequest) -> str:
        for _ in range(5):  # hold the slot while the other tasks reach it
            await asyncio.sleep(0)
        return "ok"

    return ScriptedModel(answer)


async def test_tasks_held_back_by_a_limit_say_which_in_their_start(store: SqliteStore) -> None:
    flow = Workflow(
        name="w",
        agents=team("a"),
        tasks=[Task(id=f"t{i}", agent="a", instruction="x") for i in range(3)],
        max_concurrency=1,
    )
    result = await run(store, flow, _slow_answer())
    assert result.ok
    starts = kinds(result.events, "task_started")
    assert [e.limit for e in starts] == [None, "max_concurrency 1", "max_concurrency 1"]  # type: ignore[attr-defined]
    throttle = project(result.run_id, result.events).throttles["max_concurrency 1"]
    assert throttle.waits == 2


async def test_with_no_limit_set_nothing_is_held_back(store: SqliteStore) -> None:
    flow = Workflow(
        name="w",
        agents=team("a"),
        tasks=[Task(id=f"t{i}", agent="a", instruction="x") for i in range(50)],
    )
    assert flow.max_concurrency is None
    result = await run(store, flow, _slow_answer())
    assert result.ok
    assert all(e.limit is None for e in kinds(result.events, "task_started"))  # type: ignore[attr-defined]
    assert project(result.run_id, result.events).throttles == {}
