"""Human approval: a run waits, survives a restart, and goes on when someone decides."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from podium import Agent, ConfigError, ScriptedModel, SqliteStore, Task, Workflow
from podium.engine import LocalEngine
from podium.engine.approval import Decision, record_decision
from podium.policy import RetryPolicy
from podium.run import project
from podium.task import Approval
from podium.testing.clock import ManualClock

FLOW = Workflow(
    name="outreach",
    agents=[Agent(name="writer"), Agent(name="mailer", approval=Approval(reason="sends an email"))],
    tasks=[
        Task(id="draft", agent="writer", instruction="Write to the client"),
        Task(id="send", agent="mailer", instruction="Send {{ draft }}", needs=("draft",)),
        Task(id="log", agent="writer", instruction="Log that {{ send }} went out", needs=("send",)),
    ],
)


def model() -> ScriptedModel:
    return ScriptedModel(lambda r: f"{r.caller.task_id if r.caller else '?'}: ok")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "runs.db") as store:
        yield store


def engine(
    store: SqliteStore, scripted: ScriptedModel, clock: ManualClock | None = None
) -> LocalEngine:
    return LocalEngine(store=store, model=scripted, clock=clock, retry=RetryPolicy(max_attempts=1))


async def test_a_run_waits_for_approval_and_goes_on_after_a_restart(tmp_path: Path) -> None:
    first = model()
    async with SqliteStore(tmp_path / "runs.db") as store:
        waiting = await engine(store, first).execute(FLOW)
    assert waiting.status == "waiting"
    assert waiting.tasks["send"].status == "waiting"
    assert "log" not in {t for t, s in waiting.tasks.items() if s.status != "pending"}
    assert "send" not in waiting.context  # nothing is written before a human says so

    # a new process: open the store again, decide, resume
    async with SqliteStore(tmp_path / "runs.db") as store:
        (summary,) = await store.list_runs()
        assert summary.status == "waiting"
        await record_decision(
            store, waiting.run_id, "send", Decision(kind="approval_granted", by="ana", comment="ok")
        )
        second = model()
        done = await engine(store, second).resume(FLOW, waiting.run_id)

    assert done.ok
    assert done.context["send"] == "send: ok"
    # the approved task was not paid for twice: its answer came from the log
    assert [c.caller.task_id for c in second.calls if c.caller] == ["log"]
    assert "send: approved by ana: ok" in project(done.run_id, done.events).notes


async def test_an_edited_output_replaces_the_proposed_one(store: SqliteStore) -> None:
    waiting = await engine(store, model()).execute(FLOW)
    edited = Decision(kind="approval_granted", by="ana", is_edited=True, output="Dear Ms. Lee")
    await record_decision(store, waiting.run_id, "send", edited)
    done = await engine(store, model()).resume(FLOW, waiting.run_id)
    assert done.context["send"] == "Dear Ms. Lee"
    assert done.tasks["log"].status == "succeeded"


async def test_a_denial_fails_the_task_like_any_failure(store: SqliteStore) -> None:
    waiting = await engine(store, model()).execute(FLOW)
    denied = Decision(kind="approval_denied", by="ana", reason="wrong client")
    await record_decision(store, waiting.run_id, "send", denied)
    done = await engine(store, model()).resume(FLOW, waiting.run_id)
    assert done.status == "failed"
    assert done.tasks["send"].error == "ApprovalDeniedError: denied by ana: wrong client"
    assert done.tasks["log"].status == "skipped"


async def test_a_decision_needs_a_waiting_task(store: SqliteStore) -> None:
    waiting = await engine(store, model()).execute(FLOW)
    with pytest.raises(ConfigError, match=r"task 'draft' .* is not waiting for approval"):
        await record_decision(
            store, waiting.run_id, "draft", Decision(kind="approval_granted", by="x")
        )


@pytest.mark.parametrize(("default", "status"), [("deny", "failed"), ("approve", "succeeded")])
async def test_an_expired_approval_gets_its_default(
    store: SqliteStore, default: str, status: str
) -> None:
    timed = Approval(reason="spends money", timeout=timedelta(hours=1), on_timeout=default)  # type: ignore[arg-type]
    flow = FLOW.model_copy(
        update={"agents": (Agent(name="writer"), Agent(name="mailer", approval=timed))}
    )
    clock = ManualClock()
    waiting = await engine(store, model(), clock).execute(flow)
    assert waiting.status == "waiting"

    clock.advance(timedelta(minutes=30))  # not yet: still waiting
    assert (await engine(store, model(), clock).resume(flow, waiting.run_id)).status == "waiting"
    clock.advance(timedelta(hours=1))
    done = await engine(store, model(), clock).resume(flow, waiting.run_id)
    assert done.status == status
    by = [e for e in done.events if e.kind in ("approval_granted", "approval_denied")]
    assert [e.by for e in by] == ["timeout"]  # type: ignore[attr-defined]


async def test_a_tool_that_needs_approval_waits_and_runs_once_approved(store: SqliteStore) -> None:
    from podium import tool
    from podium.models.base import ToolCall

    sent: list[str] = []

    @tool(approval=Approval(reason="emails a client"))
    def send_email(to: str) -> str:
        """Send an email."""
        sent.append(to)
        return f"sent to {to}"

    flow = Workflow(
        name="mail",
        agents=[Agent(name="mailer", tools=[send_email])],
        tasks=[Task(id="notify", agent="mailer", instruction="Tell Lee")],
    )
    asks = ToolCall(id="c1", name="send_email", arguments={"to": "lee@example.com"})
    waiting = await engine(store, ScriptedModel([asks])).execute(flow)
    assert waiting.status == "waiting"
    assert sent == []  # nothing is sent before a human approves
    (request,) = [e for e in waiting.events if e.kind == "approval_requested"]
    assert request.output == {"tool": "send_email", "arguments": {"to": "lee@example.com"}}  # type: ignore[attr-defined]

    await record_decision(
        store, waiting.run_id, "notify", Decision(kind="approval_granted", by="ana")
    )
    second = ScriptedModel(["Lee has been told."])
    done = await engine(store, second).resume(flow, waiting.run_id)
    assert done.ok
    assert sent == ["lee@example.com"]
    assert len(second.calls) == 1  # the call that asked for the tool was replayed, not repeated


async def test_a_denied_tool_call_fails_its_task(store: SqliteStore) -> None:
    from podium import tool
    from podium.models.base import ToolCall

    @tool(approval=True)
    def wire_money(amount: int) -> str:
        """Pay."""
        raise AssertionError("never runs")

    flow = Workflow(
        name="pay",
        agents=[Agent(name="cashier", tools=[wire_money])],
        tasks=[Task(id="pay", agent="cashier", instruction="Pay 500")],
    )
    asks = ToolCall(id="c1", name="wire_money", arguments={"amount": 500})
    waiting = await engine(store, ScriptedModel([asks])).execute(flow)
    denied = Decision(kind="approval_denied", by="ana", reason="over the limit")
    await record_decision(store, waiting.run_id, "pay", denied)
    done = await engine(store, ScriptedModel([])).resume(flow, waiting.run_id)
    assert done.status == "failed"
    assert "tool 'wire_money' was denied by ana: over the limit" in (done.tasks["pay"].error or "")


TWO = Workflow(
    name="two",
    agents=[Agent(name="w", approval=True)],
    tasks=[Task(id="a", agent="w", instruction="A"), Task(id="b", agent="w", instruction="B")],
)


async def test_approving_tasks_one_at_a_time_writes_what_was_proposed(store: SqliteStore) -> None:
    counter = iter(range(1, 100))
    fresh = ScriptedModel(lambda r: f"{r.caller.task_id if r.caller else '?'}-{next(counter)}")
    waiting = await engine(store, fresh).execute(TWO)
    proposed = {t: waiting.tasks[t].output for t in ("a", "b")}

    for task in ("a", "b"):
        await record_decision(
            store, waiting.run_id, task, Decision(kind="approval_granted", by="x")
        )
        later = ScriptedModel(lambda r: "a fresh answer that was never approved")
        result = await engine(store, later).resume(TWO, waiting.run_id)
        assert later.calls == []  # every proposal is replayed from the log, never paid again

    assert result.ok
    assert {t: result.context[t] for t in ("a", "b")} == proposed


async def test_a_failed_branch_does_not_hide_a_pending_approval(store: SqliteStore) -> None:
    from podium import ModelError

    flow = Workflow(
        name="mixed",
        agents=[Agent(name="w"), Agent(name="gated", approval=True)],
        tasks=[
            Task(id="bad", agent="w", instruction="x"),
            Task(id="s", agent="gated", instruction="y"),
        ],
    )
    result = await engine(store, ScriptedModel({"bad": [ModelError("no")], "s": ["ok"]})).execute(
        flow
    )
    assert result.status == "waiting"
    assert "waiting for approval of s" in (result.error or "")
    assert "task 'bad' failed" in (result.error or "")


async def test_a_replay_of_a_waiting_run_waits_too(store: SqliteStore) -> None:
    waiting = await engine(store, model()).execute(FLOW)
    replayed = await engine(store, ScriptedModel([])).replay(FLOW, waiting.run_id)
    assert replayed.status == "waiting"
    assert replayed.tasks["send"].status == "waiting"


async def test_no_decision_is_written_into_a_run_another_process_is_executing(
    store: SqliteStore,
) -> None:
    import asyncio
    import sys
    from dataclasses import replace as copy

    waiting = await engine(store, model()).execute(FLOW)
    events = await store.read(waiting.run_id)
    alive = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(60)"
    )
    try:
        started = copy(events[0], pid=alive.pid)  # as if that process were running it
        async with SqliteStore(":memory:") as other:
            await other.append(waiting.run_id, [started, *events[1:-1]])  # no end: running
            with pytest.raises(ConfigError, match=f"is still running \\(process {alive.pid}\\)"):
                await record_decision(
                    other, waiting.run_id, "send", Decision(kind="approval_granted", by="x")
                )
    finally:
        alive.kill()
        await alive.wait()


ROUTER = Workflow(
    name="triage",
    agents=[Agent(name="router", approval=True), Agent(name="billing"), Agent(name="tech")],
    tasks=[
        Task(id="route", agent="router", instruction="Which team?", routes=("bill", "fix")),
        Task(id="bill", agent="billing", instruction="refund", needs=("route",)),
        Task(id="fix", agent="tech", instruction="debug", needs=("route",)),
    ],
)


def router_model() -> ScriptedModel:
    return ScriptedModel(
        {
            "route": [{"choice": "bill", "reason": "refund asked"}],
            "bill": ["Refunded."],
            "fix": ["Fixed."],
        }
    )


async def test_an_approval_edited_to_choose_the_other_route_runs_that_route(
    store: SqliteStore,
) -> None:
    waiting = await engine(store, router_model()).execute(ROUTER)
    assert waiting.status == "waiting"
    edited = {"choice": "fix", "reason": "it is a bug, not a refund"}
    decision = Decision(kind="approval_granted", by="ana", is_edited=True, output=edited)
    await record_decision(store, waiting.run_id, "route", decision)

    done = await engine(store, router_model()).resume(ROUTER, waiting.run_id)

    assert done.ok, done.error
    assert done.tasks["fix"].status == "succeeded"
    assert done.tasks["bill"].status == "skipped"
    (routed,) = [e for e in done.events if e.kind == "route_chosen"]
    assert routed.choice == "fix"  # type: ignore[attr-defined]


async def test_an_approval_edited_to_no_route_fails_the_router(store: SqliteStore) -> None:
    waiting = await engine(store, router_model()).execute(ROUTER)
    decision = Decision(
        kind="approval_granted", by="ana", is_edited=True, output={"choice": "nowhere"}
    )
    await record_decision(store, waiting.run_id, "route", decision)

    done = await engine(store, router_model()).resume(ROUTER, waiting.run_id)

    assert done.status == "failed"
    assert "its 'choice' must be one of bill, fix" in (done.tasks["route"].error or "")
