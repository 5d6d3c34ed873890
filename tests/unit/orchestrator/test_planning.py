"""Plan tasks end to end: plan, repair or ask again, retrieve, run the steps, re-plan.

Scripted planner and team, a real SQLite store; everything is asserted through the run's
event log and its result.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import textwrap
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import JsonValue

from podium import (
    Agent,
    LoopSpec,
    ModelError,
    ModelRequest,
    ScriptedModel,
    SqliteStore,
    Task,
    Workflow,
    WorkflowValidationError,
)
from podium.budget import Budget
from podium.engine import LocalEngine
from podium.engine.approval import Decision, record_decision
from podium.event import (
    ApprovalRequested,
    BudgetExceeded,
    OutputRejected,
    PlanCreated,
    PlanRejected,
    PlanRepaired,
    SourcesRetrieved,
    TaskStarted,
    TaskSucceeded,
    recorded_write,
)
from podium.ids import RunId
from podium.models.scripted import Reply
from podium.orchestrator import KINDS
from podium.policy import RetryPolicy
from podium.review import Review
from podium.run import RunResult
from podium.task import PlanSpec
from podium.workflow.validate import validate
from podium.workflow.yaml import parse_workflow

T = TypeVar("T")
NO_RETRY = RetryPolicy(max_attempts=1)
GOAL = "Size the e-bike market"
TEAM = (
    Agent(name="planner"),
    Agent(name="researcher"),
    Agent(name="writer"),
    Agent(name="reviewer", output_schema=Review),
)


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    async with SqliteStore(":memory:") as store:
        yield store


def flow(**spec: Any) -> Workflow:  # Any: PlanSpec fields
    """A team whose one task plans the goal (``spec`` adds to the plan).

    Like the default team, each plan waits for approval when the input ``approve_plan`` holds.
    """
    spec.setdefault("approve_when", "approve_plan")
    return Workflow(
        name="goal",
        inputs={
            "goal": {"default": GOAL},
            "docs": {"default": None},
            "approve_plan": {"default": False},
        },
        agents=TEAM,
        tasks=[Task(id="plan", plan=PlanSpec(goal="{{ goal }}", planner="planner", **spec))],
    )


def step(
    step_id: str, agent: str = "researcher", *, needs: tuple[str, ...] = (), does: str = ""
) -> dict[str, JsonValue]:
    return {
        "id": step_id,
        "agent": agent,
        "instruction": does or f"Do {step_id}",
        "needs": list(needs),
    }


def plan(*steps: dict[str, JsonValue]) -> dict[str, JsonValue]:
    return {"steps": list(steps)}


def engine(store: SqliteStore, model: ScriptedModel) -> LocalEngine:
    return LocalEngine(kinds=KINDS, store=store, model=model, retry=NO_RETRY)


async def run(
    store: SqliteStore, model: ScriptedModel, workflow: Workflow | None = None, **inputs: JsonValue
) -> RunResult:
    return await engine(store, model).execute(workflow or flow(), inputs)


def of(result: RunResult, kind: type[T]) -> list[T]:
    return [e for e in result.events if isinstance(e, kind)]


def calls(model: ScriptedModel) -> Counter[str]:
    """How often the model was called, by task id."""
    return Counter(c.caller.task_id for c in model.calls if c.caller)


def prompts(model: ScriptedModel, task_id: str) -> list[str]:
    return [c.messages[-1].content for c in model.calls if c.caller and c.caller.task_id == task_id]


def seq_of(result: RunResult, kind: type[TaskStarted | TaskSucceeded], task_id: str) -> int:
    (event,) = [e for e in of(result, kind) if e.task_id == task_id]
    return event.seq


# -- a good plan ---------------------------------------------------------------------------------

MARKET_PLAN = plan(
    step("research", does="Find the market size"),
    step("rules", does="Find the rules"),
    step("report", "writer", needs=("research", "rules"), does="Write the report"),
)


def together(*task_ids: str, then: Callable[[ModelRequest], Reply]) -> ScriptedModel:
    """A model whose calls for ``task_ids`` only answer once all of them are in flight."""
    arrived: set[str] = set()
    everyone = asyncio.Event()

    async def answer(request: ModelRequest) -> Reply:
        task_id = request.caller.task_id if request.caller else ""
        if task_id in task_ids:
            arrived.add(task_id)
            if arrived == set(task_ids):
                everyone.set()
            async with asyncio.timeout(10):  # times out when they run one after the other
                await everyone.wait()
        return then(request)

    return ScriptedModel(answer)


def market_answers(request: ModelRequest) -> Reply:
    task_id = request.caller.task_id if request.caller else ""
    return MARKET_PLAN if task_id == "plan/planner" else f"{task_id.removeprefix('plan/')} done"


async def test_a_good_plan_runs_its_steps_in_parallel_where_they_are_independent(
    store: SqliteStore,
) -> None:
    scripted = together("plan/research", "plan/rules", then=market_answers)
    result = await run(store, scripted)

    assert result.ok, result.error
    (created,) = of(result, PlanCreated)
    assert (created.task_id, created.revision, created.kept) == ("plan", 1, ())
    assert created.reason == f"goal: {GOAL}"
    nodes = {n.id: n for n in created.steps}
    assert list(nodes) == ["plan/research", "plan/rules", "plan/report"]
    assert nodes["plan/report"].needs == ("plan/research", "plan/rules")
    assert {(n.parent, n.agent) for n in created.steps} == {
        ("plan", "researcher"),
        ("plan", "writer"),
    }
    assert not of(result, PlanRepaired) and not of(result, PlanRejected)
    # research and rules overlap; the report waits for both
    started = max(seq_of(result, TaskStarted, t) for t in ("plan/research", "plan/rules"))
    ended = [seq_of(result, TaskSucceeded, t) for t in ("plan/research", "plan/rules")]
    assert started < min(ended)
    assert max(ended) < seq_of(result, TaskStarted, "plan/report")
    # each step writes its own key; the plan task's output maps step id -> output
    writes = {(w.key, w.task_id) for w in map(recorded_write, result.events) if w is not None}
    assert {("research", "plan/research"), ("rules", "plan/rules")} <= writes
    assert ("report", "plan/report") in writes
    steps = {"research": "research done", "rules": "rules done", "report": "report done"}
    assert result.context["plan"] == steps
    assert result.tasks["plan"].output == steps
    assert result.output == steps
    # the planner was asked once, with the goal, and the schema only admits the team
    assert calls(scripted)["plan/planner"] == 1
    (asked,) = [c for c in scripted.calls if c.caller and c.caller.task_id == "plan/planner"]
    assert f"Goal: {GOAL}" in asked.messages[-1].content
    schema: Any = asked.output_schema  # Any: a JSON schema
    agent = json.dumps(schema["$defs"]["PlanStep"]["properties"]["agent"])
    assert '"enum": ["researcher", "writer", "reviewer"]' in agent  # not the planner itself


async def test_a_cycle_is_repaired_without_asking_the_planner_again(store: SqliteStore) -> None:
    cyclic = plan(step("a", needs=("b",)), step("b", needs=("a",)))
    model = ScriptedModel({"planner": [cyclic], "a": ["A"], "b": ["B"]})
    result = await run(store, model)

    assert result.ok, result.error
    (repaired,) = of(result, PlanRepaired)
    assert repaired.repairs == ("steps form a cycle: a -> b -> a; step 'a' no longer needs 'b'",)
    assert not of(result, PlanRejected)
    assert calls(model)["plan/planner"] == 1
    (created,) = of(result, PlanCreated)
    assert [(n.id, n.needs) for n in created.steps] == [
        ("plan/a", ()),
        ("plan/b", ("plan/a",)),
    ]
    assert seq_of(result, TaskSucceeded, "plan/a") < seq_of(result, TaskStarted, "plan/b")
    assert result.context["plan"] == {"a": "A", "b": "B"}
    model.assert_complete()


async def test_a_step_named_like_a_context_key_is_renamed(store: SqliteStore) -> None:
    model = ScriptedModel(
        {
            "planner": [plan(step("goal"), step("b", needs=("goal",)))],
            "goal_step": ["G"],
            "b": ["B"],
        }
    )
    result = await run(store, model)

    assert result.ok, result.error
    (repaired,) = of(result, PlanRepaired)
    assert "step id 'goal' is a context key of the workflow; renamed it 'goal_step'" in (
        repaired.repairs
    )
    assert result.context["goal"] == GOAL  # the input is not overwritten
    assert result.context["plan"] == {"goal_step": "G", "b": "B"}


# -- unusable plans ------------------------------------------------------------------------------


async def test_a_step_for_an_agent_off_the_team_is_sent_back_by_the_schema(
    store: SqliteStore,
) -> None:
    wizard = plan(step("a", "wizard"))
    model = ScriptedModel({"planner": [wizard, plan(step("a"))], "a": ["A"]})
    result = await run(store, model)

    assert result.ok, result.error
    (rejected,) = of(result, OutputRejected)
    assert rejected.task_id == "plan/planner"
    assert "researcher" in rejected.errors  # says what is allowed
    assert not of(result, PlanRejected)  # the schema caught it before the plan was checked
    assert calls(model) == {"plan/planner": 2, "plan/a": 1}
    (created,) = of(result, PlanCreated)
    assert [n.agent for n in created.steps] == ["researcher"]


async def test_an_unrepairable_plan_is_rejected_and_the_planner_told_why(
    store: SqliteStore,
) -> None:
    clash = plan(step("a"), step("a", does="Something else"))
    model = ScriptedModel({"planner": [clash], "planner-2": [plan(step("a"))], "a": ["A"]})
    result = await run(store, model)

    assert result.ok, result.error
    (rejected,) = of(result, PlanRejected)
    problem = "two different steps have the id 'a'; give each step its own id"
    assert (rejected.revision, rejected.ask, rejected.problems) == (1, 1, (problem,))
    (reask,) = prompts(model, "plan/planner-2")
    assert "Your previous plan could not be used:" in reask
    assert problem in reask
    assert f"Goal: {GOAL}" in reask  # the original ask is repeated
    (created,) = of(result, PlanCreated)
    assert rejected.seq < created.seq
    assert [n.id for n in created.steps] == ["plan/a"]


async def test_a_planner_that_never_gives_a_usable_plan_fails_the_run(
    store: SqliteStore,
) -> None:
    clash = plan(step("a"), step("a", does="Something else"))
    model = ScriptedModel({"planner": [clash, clash]})
    result = await run(store, model, flow(max_asks=2))

    assert result.status == "failed"
    assert "no usable plan after 2 asks" in (result.error or "")
    assert "two different steps have the id 'a'" in (result.error or "")
    assert [e.ask for e in of(result, PlanRejected)] == [1, 2]
    assert not of(result, PlanCreated)
    assert calls(model) == {"plan/planner": 1, "plan/planner-2": 1}  # bounded by max_asks
    assert result.tasks["plan"].status == "failed"


async def test_a_planner_answer_that_keeps_breaking_the_schema_is_asked_for_again(
    store: SqliteStore,
) -> None:
    # the schema's repairs come first; when they run out, the plan is asked for again
    too_many = plan(*(step(f"s{i}") for i in range(4)))
    planner = [too_many] * 3  # the first ask and its two repairs
    model = ScriptedModel({"planner": planner, "planner-2": [plan(step("a"))], "a": ["A"]})
    result = await run(store, model, flow(max_tasks=3))

    assert result.ok, result.error
    (rejected,) = of(result, PlanRejected)
    (problem,) = rejected.problems
    assert problem.startswith("the answer was not a valid plan:")
    assert problem in prompts(model, "plan/planner-2")[0]


async def test_a_plan_turned_down_by_a_person_is_planned_again_with_the_reason(
    store: SqliteStore,
) -> None:
    waiting = await run(store, ScriptedModel({"planner": [plan(step("a"))]}), approve_plan=True)
    denial = Decision(kind="approval_denied", by="ana", reason="research the rules first")
    await record_decision(store, waiting.run_id, "plan/planner", denial)
    planner = ScriptedModel({"planner-2": [plan(step("rules"), step("a", needs=("rules",)))]})

    again = await engine(store, planner).resume(flow(), waiting.run_id)

    assert again.status == "waiting"  # the new plan needs approval too
    (rejected,) = of(again, PlanRejected)
    assert rejected.problems == ("a person turned this plan down: research the rules first",)
    assert "research the rules first" in prompts(planner, "plan/planner-2")[0]
    asked = [r.task_id for r in of(again, ApprovalRequested)]
    assert asked == ["plan/planner", "plan/planner-2"]


async def test_a_denied_ask_is_not_asked_again_when_the_run_resumes_later(
    store: SqliteStore,
) -> None:
    waiting = await run(store, ScriptedModel({"planner": [plan(step("a"))]}), approve_plan=True)
    denial = Decision(kind="approval_denied", by="ana", reason="too vague")
    await record_decision(store, waiting.run_id, "plan/planner", denial)
    await engine(store, ScriptedModel({"planner-2": [plan(step("a"))]})).resume(
        flow(), waiting.run_id
    )
    granted = Decision(kind="approval_granted", by="ana")
    await record_decision(store, waiting.run_id, "plan/planner-2", granted)

    last = ScriptedModel({"a": ["A"]})
    done = await engine(store, last).resume(flow(), waiting.run_id)

    assert done.ok, done.error
    assert calls(last) == {"plan/a": 1}  # neither ask of the planner is paid for again
    assert done.tasks["plan/planner"].status == "skipped"


async def test_a_resumed_run_does_not_record_its_plan_problems_twice(
    store: SqliteStore,
) -> None:
    clash = plan(step("a"), step("a", does="Something else"))
    model = ScriptedModel({"planner": [clash]})
    waiting = await run(store, model, approve_plan=True)
    granted = Decision(kind="approval_granted", by="ana")
    await record_decision(store, waiting.run_id, "plan/planner", granted)
    again = await engine(store, ScriptedModel({"planner-2": [plan(step("a"))]})).resume(
        flow(), waiting.run_id
    )
    assert again.status == "waiting"  # the second plan waits for approval in turn
    await record_decision(store, waiting.run_id, "plan/planner-2", granted)

    done = await engine(store, ScriptedModel({"a": ["A"]})).resume(flow(), waiting.run_id)

    assert done.ok, done.error
    assert [(e.revision, e.ask) for e in of(done, PlanRejected)] == [(1, 1)]


async def test_a_team_that_allows_no_step_approval_runs_the_step_without_waiting(
    store: SqliteStore,
) -> None:
    asking = plan({**step("a"), "needs_approval": True})
    model = ScriptedModel({"planner": [asking], "a": ["A"]})
    result = await run(store, model, flow(allows_step_approval=False))

    assert result.ok, result.error  # not waiting: the request was dropped, as a repair
    (repaired,) = of(result, PlanRepaired)
    assert repaired.repairs == (
        "step 'a' asked for a person's approval, which this team's plans do not use",
    )
    waiting = await run(store, ScriptedModel({"planner": [asking], "a": ["A"]}))
    assert waiting.status == "waiting"  # by default a step may ask for one


# -- re-planning ---------------------------------------------------------------------------------


async def test_a_failed_step_is_replanned_and_completed_steps_are_kept(
    store: SqliteStore,
) -> None:
    first = plan(step("a"), step("b"))
    # the revision lists a again (already done: dropped) and does b another way
    second = plan(step("a"), step("b", needs=("a",), does="Do b from a's notes"))
    model = ScriptedModel(
        {
            "planner": [first, second],
            "a": ["A"],
            "b": [ModelError("search is down", retryable=False), "B"],
        }
    )
    result = await run(store, model)

    assert result.ok, result.error
    revision1, revision2 = of(result, PlanCreated)
    assert (revision1.revision, revision2.revision) == (1, 2)
    assert revision2.kept == ("plan/a",)
    assert revision2.reason == "plan 1: b failed: search is down"
    assert [n.id for n in revision2.steps] == ["plan/b"]
    (repaired,) = of(result, PlanRepaired)
    assert repaired.repairs == ("step 'a' is already done; kept its result",)
    # the planner saw what is done and what failed
    _, revising = prompts(model, "plan/planner")
    assert "Done (kept; their outputs are available):\n- a: A" in revising
    assert "Failed:\n- b:" in revising and "search is down" in revising
    # a was not redone; b ran again, in revision 2, with its new instruction
    assert calls(model) == {"plan/planner": 2, "plan/a": 1, "plan/b": 2}
    assert prompts(model, "plan/b")[1].startswith("Do b from a's notes")
    b_runs = [e.iteration for e in of(result, TaskStarted) if e.task_id == "plan/b"]
    assert b_runs == [1, 2]
    assert result.context["plan"] == {"a": "A", "b": "B"}
    model.assert_complete()


async def test_a_failed_step_that_the_revision_replaces_does_not_fail_the_run(
    store: SqliteStore,
) -> None:
    first = plan(step("a"), step("b"))
    second = plan(step("c", needs=("a",), does="Do what b should have done, from a"))
    model = ScriptedModel(
        {
            "planner": [first, second],
            "a": ["A"],
            "b": [ModelError("search is down", retryable=False)],
            "c": ["C"],
        }
    )
    result = await run(store, model)

    assert result.tasks["plan"].status == "succeeded"
    assert result.context["plan"] == {"a": "A", "c": "C"}
    assert calls(model)["plan/a"] == 1
    assert result.ok, result.error  # fails: "task 'plan/b' failed: ModelError: search is down"


async def test_re_planning_is_bounded_by_max_replans(store: SqliteStore) -> None:
    down = ModelError("search is down", retryable=False)
    model = ScriptedModel(
        {"planner": [plan(step("a"), step("b")), plan(step("b"))], "a": ["A"], "b": [down, down]}
    )
    result = await run(store, model, flow(max_replans=1))

    assert result.status == "failed"
    assert "task 'plan' failed" in (result.error or "")
    assert "plan 2: b failed" in (result.error or "")  # names the step that failed
    assert [e.revision for e in of(result, PlanCreated)] == [1, 2]
    assert calls(model) == {"plan/planner": 2, "plan/a": 1, "plan/b": 2}
    assert result.context["a"] == "A"  # what was done stays


async def test_a_rejecting_review_replans_with_its_feedback(store: SqliteStore) -> None:
    first = plan(step("a"), step("check", "reviewer", needs=("a",)))
    model = ScriptedModel(
        {
            "planner": [first, plan(step("fix", "writer", needs=("a",)))],
            "a": ["A"],
            "check": [{"approved": False, "feedback": "add the prices"}],
            "fix": ["A, with prices"],
        }
    )
    result = await run(store, model)

    assert result.ok, result.error
    _, revision2 = of(result, PlanCreated)
    assert revision2.reason == "plan 1: check rejected the work: add the prices"
    assert revision2.kept == ("plan/a",)  # the rejecting review is not kept
    _, revising = prompts(model, "plan/planner")
    assert "Rejected by a reviewer, with the feedback:\n- check: add the prices" in revising
    assert result.context["plan"] == {"a": "A", "fix": "A, with prices"}
    assert calls(model)["plan/a"] == 1


# -- budgets, approval, resume -------------------------------------------------------------------


async def test_a_budget_stops_the_plan_and_keeps_the_finished_steps(store: SqliteStore) -> None:
    chain = plan(step("a"), step("b", needs=("a",)), step("c", needs=("b",)))
    model = ScriptedModel({"planner": [chain], "a": ["A"], "b": ["B"], "c": ["C"]})
    budgeted = flow().model_copy(update={"budget": Budget(max_model_calls=2)})
    result = await run(store, model, budgeted)

    assert result.status == "failed"
    (stop,) = of(result, BudgetExceeded)
    assert (stop.scope, stop.limit, stop.used, stop.allowed) == ("run", "model_calls", 3, 2)
    assert result.error == f"budget exceeded: {stop.reason}"
    assert [e.kind for e in result.events if e.seq > stop.seq] == ["run_completed"]
    assert "plan/c" not in {e.task_id for e in of(result, TaskStarted)}
    assert (result.context["a"], result.context["b"]) == ("A", "B")
    assert result.tasks["plan/b"].output == "B"
    assert await store.read(result.run_id) == list(result.events)


async def test_a_plan_waits_for_approval_before_any_step_runs(store: SqliteStore) -> None:
    proposed = plan(step("a"))
    waiting = await run(store, ScriptedModel({"planner": [proposed]}), approve_plan=True)

    assert waiting.status == "waiting"
    (request,) = of(waiting, ApprovalRequested)
    assert request.task_id == "plan/planner"
    proposal: Any = request.output  # Any: the plan as JSON
    assert [s["id"] for s in proposal["steps"]] == ["a"]
    assert {e.task_id for e in of(waiting, TaskStarted)} == {"plan", "plan/planner"}
    assert not of(waiting, PlanCreated)

    await record_decision(
        store, waiting.run_id, "plan/planner", Decision(kind="approval_granted", by="ana")
    )
    later = ScriptedModel({"a": ["A"]})
    done = await engine(store, later).resume(flow(), waiting.run_id)

    assert done.ok, done.error
    assert calls(later) == {"plan/a": 1}  # the approved plan was not asked for again
    assert done.context["plan"] == {"a": "A"}


async def test_an_edited_plan_is_the_one_that_runs(store: SqliteStore) -> None:
    waiting = await run(store, ScriptedModel({"planner": [plan(step("a"))]}), approve_plan=True)
    edited = plan(step("b", "writer", does="Write it up instead"))
    decision = Decision(kind="approval_granted", by="ana", is_edited=True, output=edited)
    await record_decision(store, waiting.run_id, "plan/planner", decision)
    later = ScriptedModel({"b": ["B"]})
    done = await engine(store, later).resume(flow(), waiting.run_id)

    assert done.ok, done.error
    (created,) = of(done, PlanCreated)
    assert [(n.id, n.agent) for n in created.steps] == [("plan/b", "writer")]
    assert calls(later) == {"plan/b": 1}
    assert prompts(later, "plan/b")[0].startswith("Write it up instead")
    assert done.context["plan"] == {"b": "B"}


async def test_an_edited_plan_that_is_invalid_goes_back_to_the_planner(
    store: SqliteStore,
) -> None:
    waiting = await run(store, ScriptedModel({"planner": [plan(step("a"))]}), approve_plan=True)
    broken = plan(step("a", "wizard"))
    decision = Decision(kind="approval_granted", by="ana", is_edited=True, output=broken)
    await record_decision(store, waiting.run_id, "plan/planner", decision)
    # a plan asked for again needs approval again
    planner = ScriptedModel({"planner-2": [plan(step("a"))]})
    again = await engine(store, planner).resume(flow(), waiting.run_id)

    assert again.status == "waiting"
    (rejected,) = of(again, PlanRejected)
    (problem,) = rejected.problems
    assert problem.startswith("the plan as a person edited it: steps.0.agent: ")
    assert "'researcher'" in problem
    assert problem in prompts(planner, "plan/planner-2")[0]
    assert {r.task_id for r in of(again, ApprovalRequested)} == {"plan/planner", "plan/planner-2"}


async def interrupt_at(store: SqliteStore, task_id: str, answer: Callable[[str], Reply]) -> RunId:
    """Run the plan until the model is asked for ``task_id``, then cancel (as Ctrl-C would)."""
    reached, never = asyncio.Event(), asyncio.Event()

    async def answering(request: ModelRequest) -> Reply:
        asked = request.caller.task_id if request.caller else ""
        if asked == task_id:
            reached.set()
            await never.wait()
        return answer(asked)

    running = asyncio.get_running_loop().create_task(run(store, ScriptedModel(answering)))
    async with asyncio.timeout(10):
        await reached.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    (summary,) = await store.list_runs()
    assert summary.status == "cancelled"
    return summary.run_id


async def test_a_resumed_run_reuses_its_plan_and_its_finished_steps(store: SqliteStore) -> None:
    chain = plan(step("a"), step("b", needs=("a",)))
    run_id = await interrupt_at(store, "plan/b", lambda t: chain if t == "plan/planner" else "A")

    later = ScriptedModel({"b": ["B"]})
    result = await engine(store, later).resume(flow(), run_id)

    assert result.ok, result.error
    assert calls(later) == {"plan/b": 1}  # no planner, no a
    assert len(of(result, PlanCreated)) == 1
    assert result.context["plan"] == {"a": "A", "b": "B"}


async def test_a_run_resumed_after_a_replan_goes_on_with_the_revised_plan(
    store: SqliteStore,
) -> None:
    plans = [plan(step("a"), step("b")), plan(step("c", needs=("a",)))]

    def answer(task_id: str) -> Reply:
        if task_id == "plan/planner":
            return plans.pop(0)
        if task_id == "plan/b":
            return ModelError("search is down", retryable=False)
        return "A"

    run_id = await interrupt_at(store, "plan/c", answer)
    later = ScriptedModel(lambda r: f"{r.caller.task_id if r.caller else '?'} on resume")
    result = await engine(store, later).resume(flow(), run_id)

    # today: b (superseded) runs again and succeeds, c never runs, plan == {"a", "b"}
    assert calls(later) == {"plan/c": 1}
    assert result.context["plan"] == {"a": "A", "c": "plan/c on resume"}


def test_a_plan_task_in_a_loop_is_refused_before_the_run() -> None:
    # a plan is made once per run: repeating one would mix the iterations' plans on resume
    looped = flow().model_copy(
        update={
            "tasks": (
                Task(
                    id="rounds",
                    loop=LoopSpec(
                        max_iterations=2,
                        until="false",
                        tasks=(
                            Task(id="plan", plan=PlanSpec(goal="{{ goal }}", planner="planner")),
                        ),
                    ),
                ),
            )
        }
    )
    with pytest.raises(WorkflowValidationError) as caught:
        validate(looped)
    (problem,) = caught.value.problems
    assert problem.path == "tasks.0.loop.tasks.0.plan"
    assert "a plan runs at the top level only" in problem.message


# -- a plan written in advance -------------------------------------------------------------------


async def test_steps_given_in_the_workflow_run_without_asking_the_planner(
    store: SqliteStore,
) -> None:
    given = flow(steps=(step("a"), step("b", "writer", needs=("a",))))
    model = ScriptedModel({"a": ["A"], "b": ["B"]})
    result = await run(store, model, given)

    assert result.ok, result.error
    (created,) = of(result, PlanCreated)
    assert created.reason == "the plan written in the workflow"
    assert calls(model) == {"plan/a": 1, "plan/b": 1}


async def test_a_plan_that_is_not_executed_is_the_output(store: SqliteStore) -> None:
    model = ScriptedModel({"planner": [plan(step("a"))]})
    result = await run(store, model, flow(execute=False))

    assert result.ok, result.error
    output: Any = result.context["plan"]  # Any: the plan as JSON
    assert [s["id"] for s in output["steps"]] == ["a"]
    assert calls(model) == {"plan/planner": 1}


# -- retrieval -----------------------------------------------------------------------------------


@pytest.fixture
def docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PODIUM_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "market.md").write_text(
        "# E-bike market\n\nThe e-bike market grew 20% in 2025 to 4 billion euros.\n"
    )
    (folder / "rules.md").write_text(
        "# Helmet rules\n\nFrom 2027 riders of fast e-bikes must wear helmets.\n"
    )
    return folder


async def test_each_step_is_shown_the_passages_that_match_it(
    store: SqliteStore, docs: Path
) -> None:
    steps = plan(
        step("size", does="Find how much the e-bike market grew"),
        step("helmets", does="Find the helmet rules"),
    )
    model = ScriptedModel({"planner": [steps], "size": ["+20%"], "helmets": ["from 2027"]})
    result = await run(store, model, flow(docs="docs", passages=1), docs=str(docs))

    assert result.ok, result.error
    retrieved = {e.task_id: e for e in of(result, SourcesRetrieved)}
    assert set(retrieved) == {"plan", "plan/size", "plan/helmets"}  # the goal's, and each step's
    assert [p["id"] for p in retrieved["plan/size"].passages] == ["market.md#1"]
    assert [p["id"] for p in retrieved["plan/helmets"].passages] == ["rules.md#1"]
    # a step is searched with the goal and its subject, not what every step says ("Find")
    assert retrieved["plan/size"].query.endswith("how much e-bike market grew")
    # a step's prompt shows its passages by id; the planner is told what documents exist
    shown = prompts(model, "plan/size")[0]
    fenced = '[market.md#1] <<untrusted origin="document market.md#1">>\nE-bike market:'
    assert f"Sources (cite them by their [id]):\n{fenced}" in shown
    assert "The e-bike market grew 20% in 2025" in shown
    assert "[rules.md#1]" in prompts(model, "plan/helmets")[0]
    asked = prompts(model, "plan/planner")[0]
    assert "Documents the steps can use:\n- E-bike market\n- Helmet rules" in asked
    sources: Any = result.context["sources"]  # Any: passages as JSON
    assert set(sources) == {"market.md#1", "rules.md#1"}
    assert sources["market.md#1"]["document"] == "market.md"


async def test_without_docs_nothing_is_retrieved(store: SqliteStore) -> None:
    model = ScriptedModel({"planner": [plan(step("a"))], "a": ["A"]})
    result = await run(store, model, flow(docs="docs"))

    assert result.ok, result.error
    assert not of(result, SourcesRetrieved)
    assert "sources" not in result.context
    assert "Sources (cite them" not in prompts(model, "plan/a")[0]
    assert "Documents the steps can use" not in prompts(model, "plan/planner")[0]


async def test_a_replay_is_shown_the_recorded_passages_even_with_the_documents_gone(
    store: SqliteStore, docs: Path
) -> None:
    steps = plan(step("size", does="Find how much the e-bike market grew"))
    model = ScriptedModel({"planner": [steps], "size": ["+20%"]})
    first = await run(store, model, flow(docs="docs", passages=1), docs=str(docs))
    assert first.ok, first.error
    shutil.rmtree(docs)

    replayed = await engine(store, ScriptedModel([])).replay(
        flow(docs="docs", passages=1), first.run_id
    )

    assert replayed.ok, replayed.error
    retrieved = {e.task_id: e for e in of(replayed, SourcesRetrieved)}
    assert [p["id"] for p in retrieved["plan/size"].passages] == ["market.md#1"]


# -- validation ----------------------------------------------------------------------------------


async def test_a_plan_with_an_unknown_planner_is_refused_before_the_run(
    store: SqliteStore,
) -> None:
    text = textwrap.dedent(
        """
        name: goal
        inputs: {goal: {required: true}}
        agents:
          researcher: {}
        tasks:
          - id: plan
            plan:
              goal: "{{ goal }}"
              planner: plannr
              agents: [researcher, wizard]
        """
    ).lstrip("\n")
    workflow = parse_workflow(text, source="team.yaml")
    with pytest.raises(WorkflowValidationError) as caught:
        validate(workflow)
    found = {p.path: p for p in caught.value.problems}
    assert set(found) == {"tasks.0.plan.planner", "tasks.0.plan.agents.1"}
    assert "names agent 'plannr', which is not in `agents`" in found["tasks.0.plan.planner"].message
    assert "'wizard'" in found["tasks.0.plan.agents.1"].message
    location = found["tasks.0.plan.planner"].location
    assert location is not None and location.line == 9

    with pytest.raises(WorkflowValidationError):
        await engine(store, ScriptedModel()).execute(workflow, {"goal": GOAL})
    assert await store.list_runs() == []  # no run was started


async def test_an_engine_without_the_orchestrators_kinds_fails_a_plan_task_saying_why(
    store: SqliteStore,
) -> None:
    """Planning is a node kind registered from outside the engine, not built into it."""
    bare = LocalEngine(store=store, model=ScriptedModel([]), retry=NO_RETRY)
    result = await bare.execute(flow(), {"goal": GOAL})

    assert result.status == "failed"
    assert "a plan: task needs the orchestrator's node kinds" in (result.tasks["plan"].error or "")
