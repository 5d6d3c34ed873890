"""Fallbacks: a task whose agent keeps failing is rerouted to a fallback agent or model."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from podium import (
    Agent,
    ModelError,
    ModelRequest,
    ScriptedModel,
    SqliteStore,
    Task,
    TaskError,
    Workflow,
)
from podium.engine import LocalEngine
from podium.engine.fallback import combined_failure
from podium.errors import CircuitOpenError, ToolError
from podium.event import (
    CircuitChanged,
    Event,
    TaskFailed,
    TaskRerouted,
    TaskStarted,
    recorded_write,
)
from podium.models.spec import ModelSpec
from podium.policy import CircuitPolicy, Policy, RetryPolicy
from podium.run import RunResult, project
from podium.testing.clock import ManualClock

ONE_SECOND_BACKOFF = RetryPolicy(max_attempts=2, initial_backoff=timedelta(seconds=1), jitter=False)


def down() -> ModelError:
    return ModelError("503 service unavailable", kind="server")


async def run_on_clock(flow: Workflow) -> tuple[RunResult, list[float]]:
    """Run ``flow``, advancing a manual clock whenever the engine waits; return the waits."""
    clock = ManualClock()
    waits: list[float] = []
    async with SqliteStore(":memory:") as store:
        engine = LocalEngine(store=store, clock=clock)
        async with asyncio.TaskGroup() as group:
            running = group.create_task(engine.execute(flow))
            while not running.done():
                await asyncio.sleep(0)
                step = clock.next_deadline()
                if step is not None:
                    waits.append(step.total_seconds())
                    clock.advance(step)
        return running.result(), waits


def task_events(events: tuple[Event, ...]) -> list[tuple[str, ...]]:
    """The task events of a run, with who ran each attempt."""
    found: list[tuple[str, ...]] = []
    for e in events:
        if isinstance(e, TaskStarted | TaskFailed):
            found.append((e.kind, e.agent or "", str(e.attempt)))
        elif isinstance(e, TaskRerouted):
            found.append((e.kind, e.from_target, e.to_target))
        elif e.kind in ("task_retried", "task_succeeded"):
            found.append((e.kind,))
    return found


def flow(*agents: Agent, **options: object) -> Workflow:
    task = Task(id="t", agent=agents[0].name, instruction="write")
    return Workflow(name="w", agents=agents, tasks=[task], **options)  # type: ignore[arg-type]


async def test_a_failing_agent_is_retried_then_rerouted_to_its_fallback_agent() -> None:
    primary = ScriptedModel([down(), down()], name="primary")
    backup = ScriptedModel(["from the backup"], name="backup")
    policy = Policy(retry=ONE_SECOND_BACKOFF, fallbacks=("agent:backup",))
    writer = Agent(name="writer", model=primary, policy=policy)
    result, waits = await run_on_clock(flow(writer, Agent(name="backup", model=backup)))

    assert result.ok
    assert result.output == "from the backup"
    assert waits == [1.0]
    assert task_events(result.events) == [
        ("task_started", "writer", "1"),
        ("task_failed", "writer", "1"),
        ("task_retried",),
        ("task_started", "writer", "2"),
        ("task_failed", "writer", "2"),
        ("task_rerouted", "agent:writer", "agent:backup"),
        ("task_started", "backup", "3"),
        ("task_succeeded",),
    ]
    rerouted = next(e for e in result.events if isinstance(e, TaskRerouted))
    assert rerouted.reason == "failed: ModelError: 503 service unavailable"
    assert result.tasks["t"].agent == "backup"  # the live view shows who answered
    written = [w for w in map(recorded_write, result.events) if w is not None and w.key == "t"]
    assert [w.agent for w in written] == ["backup"]
    notes = project(result.run_id, result.events).notes  # what `podium show` lists
    assert "t: rerouted from agent:writer to agent:backup (failed: ModelError: 503 service" in (
        " ".join(notes)
    )
    primary.assert_complete()
    backup.assert_complete()


async def test_a_fallback_model_runs_the_same_agent_on_another_model() -> None:
    primary = ScriptedModel([ModelError("context too long", kind="context_length")])
    writer = Agent(name="writer", model=primary, policy=Policy(fallbacks=("model:big",)))
    workflow = flow(
        writer,
        models={"big": ModelSpec(provider="scripted")},
        scripted={"t": ["from the big model"]},
    )
    result, waits = await run_on_clock(workflow)

    assert result.ok
    assert result.output == "from the big model"
    assert waits == []  # context_length is not retryable: straight to the fallback
    assert task_events(result.events) == [
        ("task_started", "writer", "1"),
        ("task_failed", "writer", "1"),
        ("task_rerouted", "agent:writer", "model:big"),
        ("task_started", "writer", "2"),
        ("task_succeeded",),
    ]
    called = [e.model for e in result.events if e.kind == "model_called"]  # type: ignore[union-attr]
    assert called == ["scripted"]


async def test_a_non_retryable_failure_still_goes_to_the_fallbacks() -> None:
    bad = ModelError("invalid request", kind="bad_request")
    writer = Agent(
        name="writer",
        model=ScriptedModel([bad]),
        policy=Policy(fallbacks=("backup",)),  # a bare name is an agent
    )
    backup = Agent(name="backup", model=ScriptedModel(["ok"]))
    result, _ = await run_on_clock(flow(writer, backup))
    assert result.ok
    assert [e.reason for e in result.events if isinstance(e, TaskRerouted)] == [
        "failed: ModelError: invalid request"
    ]


async def test_when_every_target_fails_the_task_fails_once_listing_each() -> None:
    writer = Agent(
        name="writer",
        model=ScriptedModel([down()]),
        policy=Policy(fallbacks=("agent:backup", "agent:last")),
    )
    backup = Agent(name="backup", model=ScriptedModel([ModelError("bad key", kind="auth")]))
    last = Agent(name="last", model=ScriptedModel([ToolError("tool 'search' raised")]))
    no_retry = Policy(retry=RetryPolicy(max_attempts=1))
    result, _ = await run_on_clock(flow(writer, backup, last, defaults=no_retry))

    assert result.status == "failed"
    failed = [e for e in result.events if isinstance(e, TaskFailed)]
    assert [(e.agent, e.attempt) for e in failed] == [("writer", 1), ("backup", 2), ("last", 3)]
    final = failed[-1]
    assert final.error_type == "TaskError"
    assert final.message == (
        "every target failed: agent:writer: ModelError: 503 service unavailable; "
        "agent:backup: ModelError: bad key; agent:last: ToolError: tool 'search' raised"
    )
    assert result.tasks["t"].error == f"TaskError: {final.message}"
    reroutes = [(e.from_target, e.to_target) for e in result.events if isinstance(e, TaskRerouted)]
    assert reroutes == [("agent:writer", "agent:backup"), ("agent:backup", "agent:last")]


async def test_each_fallback_gets_its_own_retries_from_its_own_policy() -> None:
    writer = Agent(
        name="writer", model=ScriptedModel([down()]), policy=Policy(fallbacks=("backup",))
    )
    backup = Agent(
        name="backup",
        model=ScriptedModel([down(), down(), "third time"]),
        policy=Policy(retry=RetryPolicy(max_attempts=3, jitter=False)),
    )
    defaults = Policy(retry=RetryPolicy(max_attempts=1))
    result, waits = await run_on_clock(flow(writer, backup, defaults=defaults))
    assert result.ok
    assert result.output == "third time"
    assert waits == [1.0, 2.0]
    assert result.tasks["t"].attempts == 4


async def test_an_agent_overrides_the_team_defaults_field_by_field() -> None:
    writer = Agent(
        name="writer",
        model=ScriptedModel([down(), down(), "ok"]),
        policy=Policy(retry=RetryPolicy(max_attempts=3)),
    )
    defaults = Policy.model_validate(
        {"retry": {"max_attempts": 1, "initial_backoff": "5s", "jitter": False}}
    )
    result, waits = await run_on_clock(flow(writer, defaults=defaults))
    assert result.ok
    assert waits == [5.0, 10.0]  # max_attempts from the agent; backoff and jitter from defaults


def test_a_combined_failure_lists_each_target_and_groups_their_errors() -> None:
    first = ModelError("503", kind="server", attempt=2)
    second = CircuitOpenError("circuit model:b is open", target="model:b", attempt=3)
    error = combined_failure("t", [("agent:a", first), ("model:b", second)])
    assert isinstance(error, TaskError)
    assert error.message == (
        "every target failed: agent:a: ModelError: 503; "
        "model:b: CircuitOpenError: circuit model:b is open"
    )
    assert (error.task_id, error.attempt, error.retryable) == ("t", 3, False)
    assert isinstance(error.__cause__, ExceptionGroup)
    assert error.__cause__.exceptions == (first, second)


def test_a_single_target_keeps_its_own_error() -> None:
    only = ModelError("503", kind="server")
    assert combined_failure("t", [("agent:a", only)]) is only


@pytest.mark.parametrize("retry_on", [("tool",), ("timeout", "tool")])
async def test_retry_on_retries_only_the_kinds_it_names(retry_on: tuple[str, ...]) -> None:
    tool_failure = ModelError("not a tool failure", kind="server")
    writer = Agent(
        name="writer",
        model=ScriptedModel([tool_failure]),
        policy=Policy.model_validate({"retry": {"retry_on": list(retry_on)}}),
    )
    result, waits = await run_on_clock(flow(writer))
    assert result.status == "failed"
    assert waits == []  # a server error is retryable, but this policy retries tools only


async def test_the_policy_timeout_bounds_an_attempt_and_a_timeout_counts_against_the_agent() -> (
    None
):
    never = asyncio.Event()

    async def hang(request: ModelRequest) -> str:
        await never.wait()
        return "unreachable"

    policy = Policy(timeout=timedelta(milliseconds=20), fallbacks=("backup",))
    writer = Agent(name="writer", model=ScriptedModel(hang), policy=policy)
    backup = Agent(name="backup", model=ScriptedModel(["in time"]))
    defaults = Policy(retry=RetryPolicy(max_attempts=1), circuit=CircuitPolicy(failure_threshold=1))
    result, _ = await run_on_clock(flow(writer, backup, defaults=defaults))  # task timeout: 10 min

    assert result.output == "in time"
    failed = next(e for e in result.events if isinstance(e, TaskFailed))
    assert (failed.agent, failed.message) == ("writer", "timed out after 0:00:00.020000")
    changes = [(e.target, e.state) for e in result.events if isinstance(e, CircuitChanged)]
    assert changes == [("agent:writer", "open")]
