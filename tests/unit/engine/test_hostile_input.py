"""Hostile or broken input reaching a run: each is a clear failure of the task it came from.

A template over a resource limit, a condition reaching for Python internals, a NaN or an
infinity in the inputs, a tool's result or a model's answer: none is recorded as a podium
bug, none is silently read as false or as empty, and none makes the log unreadable.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel, ValidationError

from podium import Agent, ConfigError, ScriptedModel, SqliteStore, Task, Workflow, tool
from podium.engine import LocalEngine
from podium.models.base import ToolCall
from podium.policy import RetryPolicy
from podium.run import RunResult

NO_RETRY = RetryPolicy(max_attempts=1)


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    async with SqliteStore(":memory:") as store:
        yield store


async def run(
    store: SqliteStore,
    flow: Workflow,
    model: ScriptedModel,
    inputs: dict[str, object] | None = None,
) -> RunResult:
    engine = LocalEngine(store=store, model=model, retry=NO_RETRY)
    return await engine.execute(flow, inputs)  # type: ignore[arg-type]


def one_task(instruction: str = "go", **task: object) -> Workflow:
    return Workflow(
        name="w",
        agents=(Agent(name="a"),),
        tasks=[Task(id="t", agent="a", instruction=instruction, **task)],  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("instruction", "message"),
    [
        ("{% for i in range(10**12) %}x{% endfor %}", "too large a range"),
        ("{{ 'x' * 10**10 }}", "a value of 10,000,000,000 characters"),
        ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
    ],
)
async def test_a_template_over_its_limits_fails_its_task_not_the_engine(
    store: SqliteStore, instruction: str, message: str
) -> None:
    result = await run(store, one_task(instruction), ScriptedModel([]))

    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith("task 't' failed: ")
    assert message in result.error
    assert "podium bug" not in result.error


async def test_a_condition_reaching_for_python_internals_fails_its_task(
    store: SqliteStore,
) -> None:
    flow = one_task(when="cycler.__init__.__globals__")

    result = await run(store, flow, ScriptedModel([]))

    assert result.status == "failed"
    assert result.error is not None
    assert "task 't' failed: SecurityError: access to attribute '__init__'" in result.error
    assert not [e for e in result.events if e.kind == "task_skipped"]


async def test_non_finite_inputs_are_refused_before_the_run(store: SqliteStore) -> None:
    flow = Workflow(
        name="w",
        inputs={"prices": {"default": [1.0]}},  # type: ignore[dict-item]
        agents=(Agent(name="a"),),
        tasks=[Task(id="t", agent="a", instruction="{{ prices }}")],
    )
    with pytest.raises(ConfigError) as caught:
        await run(store, flow, ScriptedModel([]), {"prices": [1.0, math.inf]})
    assert "input 'prices' holds a NaN or infinite number (at prices.1)" in str(caught.value)
    assert await store.list_runs() == []


def test_a_workflow_with_a_non_finite_number_is_refused() -> None:
    with pytest.raises(ValidationError, match="Input should be a finite number"):
        Workflow(
            name="w",
            inputs={"price": {"default": math.nan}},  # type: ignore[dict-item]
            agents=(Agent(name="a"),),
            tasks=[Task(id="t", agent="a")],
        )


async def test_a_tool_returning_infinity_fails_with_a_clear_error(store: SqliteStore) -> None:
    @tool
    def price(item: str) -> dict[str, float]:
        """A price that overflowed."""
        return {"price": math.inf}

    flow = Workflow(
        name="w", agents=(Agent(name="a", tools=(price,)),), tasks=[Task(id="t", agent="a")]
    )
    model = ScriptedModel([ToolCall(id="c1", name="price", arguments={"item": "x"}), "done"])

    result = await run(store, flow, model)

    (called,) = [e for e in result.events if e.kind == "tool_called"]
    error = "tool 'price' returned a NaN or infinite number at price; JSON has none"
    assert called.error == error  # type: ignore[attr-defined]
    assert await store.read(result.run_id) == list(result.events)  # the log reads back


class Quote(BaseModel):
    price: float


async def test_a_model_answering_nan_is_sent_back_for_repair(store: SqliteStore) -> None:
    flow = Workflow(
        name="w", agents=(Agent(name="a", output_schema=Quote),), tasks=[Task(id="t", agent="a")]
    )
    model = ScriptedModel(['{"price": NaN}', '{"price": 3.5}'])

    result = await run(store, flow, model)

    assert result.ok and result.output == {"price": 3.5}
    (rejected,) = [e for e in result.events if e.kind == "output_rejected"]
    assert "price: Input should be a finite number" in rejected.errors  # type: ignore[attr-defined]
