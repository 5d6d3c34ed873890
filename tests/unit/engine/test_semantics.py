"""Workflow semantics found wrong by a pattern suite: each test failed before its fix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from podium import Agent, MapSpec, ModelRequest, ScriptedModel, SqliteStore, Task, Workflow
from podium.engine import LocalEngine
from podium.policy import RetryPolicy


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    async with SqliteStore(":memory:") as store:
        yield store


def engine(store: SqliteStore, model: ScriptedModel) -> LocalEngine:
    return LocalEngine(store=store, model=model, retry=RetryPolicy(max_attempts=1))


async def test_an_item_its_condition_skips_does_not_fail_the_map(store: SqliteStore) -> None:
    flow = Workflow(
        name="w",
        inputs={"docs": {"default": ["lease", "", "nda"]}},  # type: ignore[dict-item]
        agents=(Agent(name="x"),),
        tasks=[
            Task(
                id="extract",
                map=MapSpec(
                    over="docs",
                    item="doc",
                    task=Task(id="one", agent="x", instruction="{{ doc }}", when="doc != ''"),
                ),
            )
        ],
    )
    echo = ScriptedModel(lambda request: request.messages[-1].content.upper())

    result = await engine(store, echo).execute(flow)

    assert result.ok, result.error
    assert result.output == ["LEASE", "NDA"]  # the skipped item is left out, as by a filter
    assert result.tasks["extract[1]"].status == "skipped"


async def test_a_sub_workflows_max_concurrency_bounds_its_tasks(store: SqliteStore) -> None:
    in_flight = 0
    peak = 0

    async def slow(request: ModelRequest) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(3):
            await asyncio.sleep(0)  # let the others start, if they may
        in_flight -= 1
        return "done"

    fan_out = Workflow(
        name="fan_out",
        max_concurrency=1,
        agents=(Agent(name="x"),),
        tasks=[Task(id=f"t{n}", agent="x", instruction=f"part {n}") for n in range(3)],
    )
    flow = Workflow(name="w", agents=(Agent(name="y"),), tasks=[Task(id="sub", workflow=fan_out)])

    result = await engine(store, ScriptedModel(slow)).execute(flow)

    assert result.ok, result.error
    assert peak == 1
