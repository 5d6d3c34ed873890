"""Bounded recursion: a workflow calls itself (or an enclosing one), one namespace per level."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from podium import Agent, ModelRequest, ScriptedModel, SqliteStore, Task, Workflow
from podium.engine import LocalEngine
from podium.policy import RetryPolicy
from podium.task import RecurseSpec
from podium.workflow.model import InputSpec

NO_RETRY = RetryPolicy(max_attempts=1)


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    async with SqliteStore(":memory:") as store:
        yield store


def countdown(max_depth: int, on_limit: str = "fail") -> Workflow:
    """Answer ``n``, then solve ``n - 1`` the same way while ``n > 0``."""
    return Workflow(
        name="solve",
        inputs={"n": InputSpec(default=2)},
        agents=(Agent(name="x"),),
        output="answer",
        tasks=[
            Task(id="step", agent="x", instruction="step {{ n }}"),
            Task(
                id="deeper",
                recurse=RecurseSpec(workflow="solve", max_depth=max_depth, on_limit=on_limit),  # type: ignore[arg-type]
                inputs={"n": "{{ n - 1 }}"},
                when="n > 0",
                needs=("step",),
            ),
            Task(
                id="answer",
                agent="x",
                instruction="{{ step }} then {{ deeper }}",
                needs=("step", "deeper"),
                join="activated",
            ),
        ],
    )


def echo(request: ModelRequest) -> str:
    return request.messages[-1].content


async def test_a_workflow_calls_itself_until_its_base_case(store: SqliteStore) -> None:
    engine = LocalEngine(store=store, model=ScriptedModel(echo), retry=NO_RETRY)

    result = await engine.execute(countdown(max_depth=3))

    assert result.ok, result.error
    assert result.output == "step 2 then step 1 then step 0 then "
    started = [e.task_id for e in result.events if e.kind == "task_started"]  # type: ignore[attr-defined]
    assert [t for t in started if t.endswith("step")] == [
        "step",
        "deeper/step",
        "deeper/deeper/step",
    ]
    assert result.tasks["deeper/deeper/deeper"].status == "skipped"  # n > 0 is false: the base
    keys = [w.key for w in result.events if w.kind == "context_written"]  # type: ignore[attr-defined]
    assert {"n", "deeper/n", "deeper/deeper/n"} <= set(keys)  # each level its own namespace


@pytest.mark.parametrize(("on_limit", "status"), [("fail", "failed"), ("skip", "skipped")])
async def test_a_call_beyond_max_depth_fails_or_is_skipped(
    store: SqliteStore, on_limit: str, status: str
) -> None:
    engine = LocalEngine(store=store, model=ScriptedModel(echo), retry=NO_RETRY)

    result = await engine.execute(countdown(max_depth=1, on_limit=on_limit), {"n": 5})

    innermost = result.tasks["deeper/deeper"]
    assert innermost.status == status
    assert innermost.error is not None
    assert "recursion into 'solve' is 1 deep: max_depth 1" in innermost.error
    assert result.ok == (on_limit == "skip")
    assert "deeper/deeper/step" not in result.tasks


async def test_a_cycle_of_sub_workflows_recurses_through_the_enclosing_one(
    store: SqliteStore,
) -> None:
    review = Workflow(
        name="review",
        inputs={"depth": InputSpec(default=0)},
        agents=(Agent(name="x"),),
        tasks=[
            Task(id="look", agent="x", instruction="review at {{ depth }}"),
            Task(
                id="again",
                recurse=RecurseSpec(workflow="draft", max_depth=2, on_limit="skip"),
                inputs={"depth": "{{ depth + 1 }}"},
                needs=("look",),
            ),
        ],
    )
    draft = Workflow(
        name="draft",
        inputs={"depth": InputSpec(default=0)},
        agents=(Agent(name="x"),),
        tasks=[
            Task(id="write", agent="x", instruction="draft at {{ depth }}"),
            Task(id="check", workflow=review, inputs={"depth": "{{ depth }}"}, needs=("write",)),
        ],
    )
    engine = LocalEngine(store=store, model=ScriptedModel(echo), retry=NO_RETRY)

    result = await engine.execute(draft)

    assert result.ok, result.error
    written = sorted(t for t in result.tasks if t.endswith("write"))
    assert written == ["check/again/check/again/write", "check/again/write", "write"]
    assert result.tasks["check/again/check/again/check/again"].status == "skipped"
