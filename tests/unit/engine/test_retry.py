"""Retries: retryable failures are tried again after a backoff on the engine's clock."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from podium import Agent, ModelError, ScriptedModel, SqliteStore, Task, Workflow
from podium.engine import LocalEngine
from podium.errors import TaskError
from podium.policy import RetryPolicy
from podium.run import RunResult
from podium.testing.clock import ManualClock

FLOW = Workflow(
    name="w", agents=[Agent(name="a")], tasks=[Task(id="t", agent="a", instruction="x")]
)


async def run_on_clock(model: ScriptedModel, policy: RetryPolicy) -> tuple[RunResult, list[float]]:
    """Run FLOW, advancing the manual clock whenever the engine waits; return the waits."""
    clock = ManualClock()
    waits: list[float] = []
    async with SqliteStore(":memory:") as store:
        engine = LocalEngine(store=store, model=model, clock=clock, retry=policy)
        async with asyncio.TaskGroup() as group:
            running = group.create_task(engine.execute(FLOW))
            while not running.done():
                await asyncio.sleep(0)
                step = clock.next_deadline()
                if step is not None:
                    waits.append(step.total_seconds())
                    clock.advance(step)
        return running.result(), waits


async def test_a_rate_limited_call_is_retried_after_its_retry_after() -> None:
    limited = ModelError("slow down", kind="rate_limit", retry_after=timedelta(seconds=3))
    result, waits = await run_on_clock(ScriptedModel([limited, "ok"]), RetryPolicy())
    assert result.ok
    assert result.output == "ok"
    assert waits == [3.0]
    kinds = [e.kind for e in result.events if e.kind.startswith("task_")]
    assert kinds == [
        "task_started",
        "task_failed",
        "task_retried",
        "task_started",
        "task_succeeded",
    ]
    assert result.tasks["t"].attempts == 2


async def test_a_non_retryable_failure_is_not_retried() -> None:
    bad = ModelError("bad request", kind="bad_request")
    result, waits = await run_on_clock(ScriptedModel([bad]), RetryPolicy())
    assert result.status == "failed"
    assert waits == []


async def test_retries_stop_at_max_attempts_and_the_last_attempt_is_recorded() -> None:
    down = ModelError("503", kind="server")
    policy = RetryPolicy(max_attempts=3, initial_backoff=timedelta(seconds=1), jitter=False)
    result, waits = await run_on_clock(ScriptedModel([down, down, down]), policy)
    assert result.status == "failed"
    assert waits == [1.0, 2.0]
    failed = [e for e in result.events if e.kind == "task_failed"]
    assert [e.attempt for e in failed] == [1, 2, 3]  # type: ignore[attr-defined]


@given(
    attempt=st.integers(min_value=1, max_value=10),
    initial=st.floats(min_value=0.01, max_value=10),
    multiplier=st.floats(min_value=1, max_value=4),
    cap=st.floats(min_value=0.01, max_value=60),
    seed=st.integers(),
)
def test_backoff_stays_within_its_bounds(
    attempt: int, initial: float, multiplier: float, cap: float, seed: int
) -> None:
    policy = RetryPolicy(
        max_attempts=11,
        initial_backoff=timedelta(seconds=initial),
        multiplier=multiplier,
        max_backoff=timedelta(seconds=cap),
    )
    delay = policy.delay(TaskError("x", retryable=True), attempt, random.Random(seed))
    assert delay is not None
    full = min(initial * multiplier ** (attempt - 1), cap)
    assert full / 2 - 1e-6 <= delay.total_seconds() <= full + 1e-6
