"""The innermost call is a seam: ``LocalEngine(caller=...)`` runs every attempt through it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from podium import Agent, ModelError, ScriptedModel, SqliteStore, Task, Workflow
from podium.clock import Clock
from podium.engine import LocalEngine
from podium.engine.attempt import AgentAnswer, AgentCall, call_agent
from podium.engine.recorder import Recorder
from podium.event import TaskRetried, TaskStarted
from podium.ids import TaskId
from podium.policy import RetryPolicy
from podium.testing.clock import ManualClock


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    async with SqliteStore(":memory:") as store:
        yield store


def flow() -> Workflow:
    return Workflow(
        name="seam",
        agents=(Agent(name="writer"),),
        tasks=(Task(id=TaskId("draft"), agent="writer", instruction="Write."),),
    )


async def test_a_caller_replaces_the_model_call_and_its_answer_is_the_output(
    store: SqliteStore,
) -> None:
    seen: list[tuple[str, str, int]] = []

    async def elsewhere(call: AgentCall, recorder: Recorder, clock: Clock) -> AgentAnswer:
        seen.append((call.task_id, call.agent.name, call.attempt))
        return AgentAnswer(output=f"answered elsewhere for {recorder.run_id}")

    engine = LocalEngine(store=store, model=ScriptedModel([]), caller=elsewhere)
    result = await engine.execute(flow())
    assert result.ok
    assert result.output == f"answered elsewhere for {result.run_id}"
    assert seen == [("draft", "writer", 1)]
    assert [e.task_id for e in result.events if isinstance(e, TaskStarted)] == ["draft"]


async def test_a_caller_failure_is_retried_around_it(store: SqliteStore) -> None:
    failures = [ModelError("503", kind="server")]

    async def flaky(call: AgentCall, recorder: Recorder, clock: Clock) -> AgentAnswer:
        if failures:
            raise failures.pop()
        return await call_agent(call, recorder, clock)

    clock = ManualClock()
    retry = RetryPolicy(max_attempts=2, jitter=False)
    engine = LocalEngine(
        store=store, clock=clock, model=ScriptedModel(["ok"]), retry=retry, caller=flaky
    )
    async with asyncio.TaskGroup() as group:
        running = group.create_task(engine.execute(flow()))
        while not running.done():  # the retry waits on the manual clock: move it on
            await asyncio.sleep(0)
            step = clock.next_deadline()
            if step is not None:
                clock.advance(step)
    result = running.result()
    assert result.output == "ok"
    assert [e.attempt for e in result.events if isinstance(e, TaskRetried)] == [1]


async def test_each_attempt_goes_through_the_caller(store: SqliteStore) -> None:
    flow = Workflow(
        name="two",
        agents=(Agent(name="writer"),),
        tasks=(
            Task(id=TaskId("a"), agent="writer", instruction="first"),
            Task(id=TaskId("b"), agent="writer", instruction="second", needs=(TaskId("a"),)),
        ),
    )
    called: list[str] = []

    async def caller(call: AgentCall, recorder: Recorder, clock: Clock) -> AgentAnswer:
        called.append(call.task_id)
        return await call_agent(call, recorder, clock)

    engine = LocalEngine(store=store, model=ScriptedModel.echo(), caller=caller)
    result = await engine.execute(flow)
    assert result.status == "succeeded"
    assert called == ["a", "b"]
    assert [e.task_id for e in result.events if e.kind == "model_called"] == ["a", "b"]
