"""Circuit breakers: closed -> open -> half-open -> closed (or open again), on a manual clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from podium import Agent, ModelError, ScriptedModel, SqliteStore, Task, Workflow
from podium.engine import LocalEngine
from podium.engine.breaker import CircuitBreaker, CircuitChange, is_unhealthy, refusal
from podium.errors import CircuitOpenError, OutputValidationError, TaskError, ToolError
from podium.event import CircuitChanged, TaskFailed, TaskRerouted, TaskStarted
from podium.policy import CircuitPolicy, Policy, RetryPolicy
from podium.run import RunResult
from podium.testing.clock import ManualClock

POLICY = CircuitPolicy(failure_threshold=3, reset_timeout=timedelta(seconds=30))


def breaker(clock: ManualClock, changes: list[CircuitChange] | None = None) -> CircuitBreaker:
    sink = changes if changes is not None else []
    return CircuitBreaker("model:m", POLICY, clock, on_change=sink.append)


def down() -> ModelError:
    return ModelError("503", kind="server")


def test_it_opens_after_failure_threshold_consecutive_failures() -> None:
    changes: list[CircuitChange] = []
    circuit = breaker(ManualClock(), changes)
    circuit.record_failure(down())
    circuit.record_failure(down())
    assert (circuit.state, circuit.allow()) == ("closed", True)
    circuit.record_failure(down())
    assert (circuit.state, circuit.allow()) == ("open", False)
    assert [(c.target, c.state) for c in changes] == [("model:m", "open")]
    assert changes[0].reason == "3 consecutive failures, the last: ModelError: 503"


def test_a_success_resets_the_count() -> None:
    circuit = breaker(ManualClock())
    for _ in range(2):
        circuit.record_failure()
    circuit.record_success()
    circuit.record_failure()
    circuit.record_failure()
    assert circuit.state == "closed"


def test_it_half_opens_after_reset_timeout_and_lets_one_probe_through() -> None:
    clock = ManualClock()
    changes: list[CircuitChange] = []
    circuit = breaker(clock, changes)
    for _ in range(3):
        circuit.record_failure()
    clock.advance(timedelta(seconds=29))
    assert not circuit.allow()
    assert circuit.half_opens_in() == timedelta(seconds=1)
    clock.advance(timedelta(seconds=1))
    assert circuit.allow()  # the probe
    assert circuit.state == "half_open"
    assert not circuit.allow()  # only one probe at a time
    assert [c.state for c in changes] == ["open", "half_open"]


def test_a_successful_probe_closes_it() -> None:
    clock = ManualClock()
    changes: list[CircuitChange] = []
    circuit = breaker(clock, changes)
    for _ in range(3):
        circuit.record_failure()
    clock.advance(timedelta(seconds=30))
    assert circuit.allow()
    circuit.record_success()
    assert (circuit.state, circuit.failures, circuit.allow(), circuit.allow()) == (
        "closed",
        0,
        True,
        True,
    )
    assert [(c.state, c.reason) for c in changes][1:] == [
        ("half_open", "30s since it opened: one probe goes through"),
        ("closed", "the probe succeeded"),
    ]


def test_a_failed_probe_opens_it_again_for_another_reset_timeout() -> None:
    clock = ManualClock()
    changes: list[CircuitChange] = []
    circuit = breaker(clock, changes)
    for _ in range(3):
        circuit.record_failure()
    clock.advance(timedelta(seconds=30))
    assert circuit.allow()
    circuit.record_failure(down())
    assert (circuit.state, circuit.allow()) == ("open", False)
    assert circuit.half_opens_in() == timedelta(seconds=30)
    assert [c.state for c in changes] == ["open", "half_open", "open"]
    assert changes[-1].reason == "the probe failed: ModelError: 503"


def test_a_probe_that_ends_without_a_verdict_lets_another_probe_through() -> None:
    clock = ManualClock()
    circuit = breaker(clock)
    for _ in range(3):
        circuit.record_failure()
    clock.advance(timedelta(seconds=30))
    assert circuit.allow()
    circuit.release()  # e.g. the probe's task waited for an approval, or was cancelled
    assert circuit.state == "half_open"
    assert circuit.allow()


def test_a_refusal_says_which_circuit_and_when_it_half_opens() -> None:
    clock = ManualClock()
    closed = CircuitBreaker("agent:writer", POLICY, clock)
    circuit = breaker(clock)
    for _ in range(3):
        circuit.record_failure()
    clock.advance(timedelta(seconds=12))
    refused = refusal([closed, circuit], "draft")
    assert isinstance(refused, CircuitOpenError)
    assert (refused.target, refused.task_id, refused.retry_after) == (
        "model:m",
        "draft",
        timedelta(seconds=18),
    )
    assert str(refused) == (
        "task 'draft': circuit model:m is open after 3 consecutive failures; "
        "it half-opens in 18s (at 2026-01-01T00:00:30+00:00)"
    )


def test_a_refusal_takes_no_probe_from_the_circuits_that_would_allow() -> None:
    clock = ManualClock()
    probing, blocking = breaker(clock), CircuitBreaker("agent:a", POLICY, clock)
    for _ in range(3):
        probing.record_failure()
    clock.advance(timedelta(seconds=10))
    for _ in range(3):
        blocking.record_failure()
    clock.advance(timedelta(seconds=20))
    refused = refusal([probing, blocking], "t")
    assert refused is not None
    assert refused.target == "agent:a"
    assert probing.state == "half_open"
    assert probing.allow()  # its probe is still there for a call that needs only it


@pytest.mark.parametrize(
    ("target", "error", "counts"),
    [
        ("model:m", ModelError("x", kind="rate_limit"), True),
        ("model:m", ModelError("x", kind="timeout"), True),
        ("model:m", ModelError("x", kind="server"), True),
        ("model:m", ModelError("x", kind="bad_request"), False),
        ("model:m", ModelError("x", kind="context_length"), False),
        ("agent:a", ModelError("x", kind="server"), False),  # the model's, not the agent's
        ("model:m", OutputValidationError("x"), False),
        ("agent:a", OutputValidationError("x"), False),
        ("agent:a", ToolError("tool 'f' raised ValueError"), False),
    ],
)
def test_only_failures_that_say_a_dependency_is_unhealthy_count(
    target: str, error: TaskError, counts: bool
) -> None:
    assert is_unhealthy(target, error) is counts


def test_timeouts_count_against_the_agent() -> None:
    timed_out = ToolError("tool 'f' did not finish within 5s", retryable=True)
    timed_out.__cause__ = TimeoutError()
    assert is_unhealthy("agent:a", timed_out)
    assert not is_unhealthy("model:m", timed_out)


# -- in the engine -------------------------------------------------------------------------------


async def run_on_clock(flow: Workflow, clock: ManualClock) -> RunResult:
    """Run ``flow``, advancing ``clock`` whenever the engine waits."""
    async with SqliteStore(":memory:") as store:
        engine = LocalEngine(store=store, clock=clock)
        async with asyncio.TaskGroup() as group:
            running = group.create_task(engine.execute(flow))
            while not running.done():
                await asyncio.sleep(0)
                step = clock.next_deadline()
                if step is not None:
                    clock.advance(step)
        return running.result()


async def test_an_open_model_circuit_sends_tasks_straight_to_the_fallback_until_a_probe() -> None:
    clock = ManualClock()
    primary = ScriptedModel([down(), down(), "recovered"], name="primary")
    slow_backup = ScriptedModel(
        ["b1", "b2"], name="backup", latency=timedelta(seconds=40), clock=clock
    )
    defaults = Policy(
        retry=RetryPolicy(max_attempts=2, jitter=False),
        circuit=CircuitPolicy(failure_threshold=2, reset_timeout=timedelta(seconds=60)),
    )
    writer = Agent(name="writer", model=primary, policy=Policy(fallbacks=("agent:backup",)))
    flow = Workflow(
        name="w",
        agents=[writer, Agent(name="backup", model=slow_backup)],
        tasks=[
            Task(id="t1", agent="writer", instruction="one"),
            Task(id="t2", agent="writer", instruction="two", needs=["t1"]),
            Task(id="t3", agent="writer", instruction="three", needs=["t2"]),
        ],
        defaults=defaults,
    )
    result = await run_on_clock(flow, clock)

    assert result.ok
    assert [result.tasks[t].output for t in ("t1", "t2", "t3")] == ["b1", "b2", "recovered"]
    assert len(primary.calls) == 3  # two failures, no call while open, then the probe
    changes = [(e.target, e.state) for e in result.events if isinstance(e, CircuitChanged)]
    assert changes == [
        ("model:primary", "open"),
        ("model:primary", "half_open"),
        ("model:primary", "closed"),
    ]
    rerouted = {e.task_id: e.reason for e in result.events if isinstance(e, TaskRerouted)}
    assert rerouted == {
        "t1": "failed: ModelError: 503",
        "t2": "circuit open: model:primary",
    }
    started = [(e.task_id, e.agent) for e in result.events if isinstance(e, TaskStarted)]
    assert started == [
        ("t1", "writer"),
        ("t1", "writer"),
        ("t1", "backup"),
        ("t2", "backup"),
        ("t3", "writer"),
    ]


async def test_with_no_fallback_an_open_circuit_fails_the_task_fast() -> None:
    primary = ScriptedModel([down()], name="primary")
    writer = Agent(name="writer", model=primary)
    flow = Workflow(
        name="w",
        agents=[writer],
        tasks=[
            Task(id="a", agent="writer", instruction="one"),
            Task(id="b", agent="writer", instruction="two"),
        ],
        max_concurrency=1,  # one after the other, without making b need a
        defaults=Policy(
            retry=RetryPolicy(max_attempts=1), circuit=CircuitPolicy(failure_threshold=1)
        ),
    )
    result = await run_on_clock(flow, ManualClock())

    assert result.status == "failed"
    assert len(primary.calls) == 1
    failed = sorted((e.error_type, e.message) for e in result.events if isinstance(e, TaskFailed))
    assert failed == [
        (
            "CircuitOpenError",
            "circuit model:primary is open after 1 consecutive failures; "
            "it half-opens in 30s (at 2026-01-01T00:00:30+00:00)",
        ),
        ("ModelError", "503"),
    ]
