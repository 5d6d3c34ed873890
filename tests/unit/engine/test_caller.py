"""The engine's innermost-call seam: ``LocalEngine(caller=...)`` makes every attempt's model
and tool calls through the caller it is given (the Temporal engine runs them as activities)."""

from __future__ import annotations

from podium import Agent, ScriptedModel, SqliteStore, Task, Workflow
from podium.clock import Clock
from podium.engine import LocalEngine
from podium.engine.attempt import AgentAnswer, AgentCall, call_agent
from podium.engine.recorder import Recorder
from podium.ids import TaskId


async def test_each_attempt_goes_through_the_caller() -> None:
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

    async with SqliteStore(":memory:") as store:
        engine = LocalEngine(store=store, model=ScriptedModel.echo(), caller=caller)
        result = await engine.execute(flow)
    assert result.status == "succeeded"
    assert called == ["a", "b"]
    assert [e.task_id for e in result.events if e.kind == "model_called"] == ["a", "b"]
