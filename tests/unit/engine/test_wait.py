"""Signals: a ``wait:`` task waits for a named signal sent from outside the run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

import podium
from podium import Agent, ModelError, ScriptedModel, SqliteStore, Task, Workflow
from podium.engine import LocalEngine
from podium.errors import RunStateError
from podium.policy import RetryPolicy
from podium.task import WaitSpec
from podium.testing.clock import ManualClock
from podium.workflow.model import SignalSpec

NO_RETRY = RetryPolicy(max_attempts=1)


def checkout(**wait: object) -> Workflow:
    return Workflow(
        name="checkout",
        agents=(Agent(name="x"),),
        signals={"payment": SignalSpec(description="the payment provider confirms")},
        tasks=[
            Task(id="order", agent="x", instruction="order"),
            Task(id="paid", wait=WaitSpec(signal="payment", **wait), needs=("order",)),  # type: ignore[arg-type]
            Task(id="ship", agent="x", instruction="ship {{ paid.amount }}", needs=("paid",)),
        ],
    )


def echo(request: podium.ModelRequest) -> str:
    return request.messages[-1].content


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "runs.db") as store:
        yield store


async def test_a_run_waits_for_its_signal_then_takes_it_on_resume(store: SqliteStore) -> None:
    engine = LocalEngine(store=store, model=ScriptedModel(echo), retry=NO_RETRY)
    waiting = await engine.execute(checkout())
    assert waiting.status == "waiting"
    assert waiting.tasks["paid"].status == "waiting"
    assert waiting.tasks["ship"].status == "pending"  # held back, not skipped
    assert f"waits for signal 'payment': podium signal {waiting.run_id} payment" in (
        waiting.error or ""
    )

    sent = await podium.signal(
        waiting.run_id, "payment", data={"amount": 12}, by="psp", store=store
    )
    result = await engine.resume(checkout(), waiting.run_id)

    assert result.ok, result.error
    assert result.tasks["paid"].output == {"amount": 12}
    assert result.output == "ship 12"
    assert (sent.name, sent.by) == ("payment", "psp")
    assert sum(1 for e in result.events if e.kind == "signal_awaited") == 1


async def test_a_signal_sent_before_the_task_waits_is_kept(store: SqliteStore) -> None:
    calls = 0

    def flaky(request: podium.ModelRequest) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ModelError("provider down")
        return echo(request)

    engine = LocalEngine(store=store, model=ScriptedModel(flaky), retry=NO_RETRY)
    failed = await engine.execute(checkout())
    assert failed.status == "failed"
    assert failed.tasks["paid"].status == "skipped"  # its need failed: it never waited

    await podium.signal(failed.run_id, "payment", data={"amount": 7}, store=store)
    result = await engine.resume(checkout(), failed.run_id)

    assert result.ok, result.error
    assert result.output == "ship 7"
    assert not [e for e in result.events if e.kind == "signal_awaited"]  # it never had to wait


@pytest.mark.parametrize(
    ("on_timeout", "status", "paid"),
    [("skip", "skipped", "skipped"), ("fail", "failed", "failed"), ("succeed", "succeeded", None)],
)
async def test_the_timeout_applies_on_the_next_resume_after_the_deadline(
    store: SqliteStore, on_timeout: str, status: str, paid: str | None
) -> None:
    clock = ManualClock()
    flow = checkout(timeout=timedelta(hours=1), on_timeout=on_timeout)
    engine = LocalEngine(store=store, model=ScriptedModel(echo), retry=NO_RETRY, clock=clock)
    waiting = await engine.execute(flow)
    clock.advance(timedelta(minutes=30))
    still = await engine.resume(flow, waiting.run_id)
    assert still.status == "waiting"

    clock.advance(timedelta(minutes=31))
    result = await engine.resume(flow, waiting.run_id)

    if paid is not None:
        assert result.tasks["paid"].status == paid
        assert "no signal 'payment' before its timeout (1:00:00)" in (
            result.tasks["paid"].error or ""
        )
    else:
        assert result.tasks["paid"].status == status
        assert result.output == "ship "
    assert result.status == ("failed" if on_timeout == "fail" else "succeeded")


async def test_a_signal_to_a_run_that_succeeded_is_refused(store: SqliteStore) -> None:
    engine = LocalEngine(store=store, model=ScriptedModel(echo), retry=NO_RETRY)
    waiting = await engine.execute(checkout())
    await podium.signal(waiting.run_id, "payment", data={"amount": 1}, store=store)
    await engine.resume(checkout(), waiting.run_id)

    with pytest.raises(RunStateError, match="already succeeded"):
        await podium.signal(waiting.run_id, "payment", store=store)


async def test_in_a_loop_each_iteration_takes_its_own_signal(store: SqliteStore) -> None:
    flow = Workflow(
        name="rounds",
        agents=(Agent(name="x"),),
        signals={"bid": SignalSpec()},
        tasks=[
            Task(
                id="auction",
                loop=podium.LoopSpec(
                    until="offer.price > 10",
                    max_iterations=3,
                    tasks=(Task(id="offer", wait=WaitSpec(signal="bid")),),
                ),
            )
        ],
    )
    engine = LocalEngine(store=store, model=ScriptedModel(echo), retry=NO_RETRY)
    run = await engine.execute(flow)
    for price in (5, 20):
        await podium.signal(run.run_id, "bid", data={"price": price}, store=store)
    result = await engine.resume(flow, run.run_id)

    assert result.ok, result.error
    assert result.output == {"price": 20}


async def test_a_deferred_choice_takes_the_first_signal_and_cancels_the_other_wait(
    store: SqliteStore,
) -> None:
    flow = Workflow(
        name="offer",
        agents=(Agent(name="x"),),
        signals={"accept": SignalSpec(), "reject": SignalSpec()},
        tasks=[
            Task(id="accepted", wait=WaitSpec(signal="accept"), cancels=("rejected",)),
            Task(id="rejected", wait=WaitSpec(signal="reject"), cancels=("accepted",)),
            Task(id="fulfil", agent="x", instruction="fulfil", needs=("accepted",)),
            Task(id="refund", agent="x", instruction="refund {{ rejected }}", needs=("rejected",)),
        ],
        output="refund",
    )
    engine = LocalEngine(store=store, model=ScriptedModel(echo), retry=NO_RETRY)
    waiting = await engine.execute(flow)
    assert {waiting.tasks[t].status for t in ("accepted", "rejected")} == {"waiting"}

    await podium.signal(waiting.run_id, "reject", data="too late", store=store)
    result = await engine.resume(flow, waiting.run_id)

    assert result.ok, result.error
    assert result.output == "refund too late"
    assert result.tasks["accepted"].status == "cancelled"
    assert result.tasks["fulfil"].status == "skipped"


async def test_the_timeout_fires_on_time_while_another_branch_still_runs(
    store: SqliteStore,
) -> None:
    clock = ManualClock()
    audit_began, audit_may_end, shipped = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def answer(request: podium.ModelRequest) -> str:
        assert request.caller is not None
        task = request.caller.task_id
        if task == "audit":
            audit_began.set()
            await audit_may_end.wait()
        if task == "ship":
            shipped.set()
        return f"{task} done"

    flow = Workflow(
        name="checkout",
        agents=(Agent(name="x"),),
        signals={"payment": SignalSpec()},
        tasks=[
            Task(
                id="paid",
                wait=WaitSpec(signal="payment", timeout=timedelta(hours=1), on_timeout="succeed"),
            ),
            Task(id="ship", agent="x", instruction="ship", needs=("paid",)),
            Task(id="audit", agent="x", instruction="audit"),
        ],
        output="ship",
    )
    engine = LocalEngine(store=store, model=ScriptedModel(answer), retry=NO_RETRY, clock=clock)
    async with asyncio.TaskGroup() as group:
        running = group.create_task(engine.execute(flow))
        await audit_began.wait()
        await _wait_until(lambda: clock.next_deadline() == timedelta(hours=1))  # the wait's timer
        clock.advance(timedelta(minutes=59))
        assert not shipped.is_set()
        clock.advance(timedelta(minutes=2))
        await shipped.wait()  # the timeout applied while audit still runs
        audit_may_end.set()
    result = running.result()

    assert result.ok, result.error
    assert result.output == "ship done"
    seq = {(e.kind, getattr(e, "task_id", None)): e.seq for e in result.events}
    assert seq["task_succeeded", "paid"] < seq["task_succeeded", "audit"]


async def test_a_wait_whose_siblings_ended_stops_the_run_waiting_without_its_timer(
    store: SqliteStore,
) -> None:
    clock = ManualClock()
    flow = checkout(timeout=timedelta(hours=1), on_timeout="skip")
    engine = LocalEngine(store=store, model=ScriptedModel(echo), retry=NO_RETRY, clock=clock)

    waiting = await engine.execute(flow)

    assert waiting.status == "waiting"
    assert clock.next_deadline() is None  # no timer left sleeping in a finished execution


async def _wait_until(condition: Callable[[], bool]) -> None:
    """Yield to the loop until ``condition()`` holds (what it waits on has no event)."""
    async with asyncio.timeout(60):
        while not condition():  # noqa: ASYNC110 - the clock's sleepers have no event
            await asyncio.sleep(0.001)


async def test_a_zero_timeout_takes_a_signal_already_sent_else_times_out_at_once(
    store: SqliteStore,
) -> None:
    flow = checkout(timeout=timedelta(0), on_timeout="fail")
    engine = LocalEngine(store=store, model=ScriptedModel(echo), retry=NO_RETRY)

    result = await engine.execute(flow)

    assert result.status == "failed"
    assert "no signal 'payment' before its timeout (0:00:00)" in (result.tasks["paid"].error or "")
