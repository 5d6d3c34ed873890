"""The OR-join (``join: activated``): merge exactly the branches that were chosen."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from podium import Agent, ModelError, ModelRequest, ScriptedModel, SqliteStore, Task, Workflow
from podium.engine import LocalEngine
from podium.ids import TaskId
from podium.policy import RetryPolicy


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    async with SqliteStore(":memory:") as store:
        yield store


def branches(*, legal: bool, tax: bool) -> tuple[Workflow, dict[str, object]]:
    flow = Workflow(
        name="review",
        inputs={"legal": {"default": False}, "tax": {"default": False}},  # type: ignore[dict-item]
        agents=(Agent(name="x"),),
        tasks=[
            Task(id="intake", agent="x", instruction="intake"),
            Task(id="legal_review", agent="x", instruction="l", needs=("intake",), when="legal"),
            Task(id="tax_review", agent="x", instruction="t", needs=("intake",), when="tax"),
            Task(id="plain_review", agent="x", instruction="p", needs=("intake",)),
            Task(
                id="merge",
                agent="x",
                instruction="{{ legal_review }}|{{ tax_review }}|{{ plain_review }}",
                needs=(TaskId("legal_review"), TaskId("tax_review"), TaskId("plain_review")),
                join="activated",
            ),
        ],
    )
    return flow, {"legal": legal, "tax": tax}


def echo(request: ModelRequest) -> str:
    assert request.caller is not None
    if request.caller.task_id == "merge":
        return request.messages[-1].content
    return request.caller.task_id


@pytest.mark.parametrize(("legal", "tax"), [(True, True), (True, False), (False, False)])
async def test_the_or_join_waits_for_exactly_the_branches_activated(
    store: SqliteStore, legal: bool, tax: bool
) -> None:
    flow, inputs = branches(legal=legal, tax=tax)
    engine = LocalEngine(store=store, model=ScriptedModel(echo))

    result = await engine.execute(flow, inputs)  # type: ignore[arg-type]

    assert result.ok, result.error
    active = [t for t, on in (("legal_review", legal), ("tax_review", tax)) if on]
    active.append("plain_review")
    started = {e.task_id: e.seq for e in result.events if e.kind == "task_started"}  # type: ignore[attr-defined]
    ended = {e.task_id: e.seq for e in result.events if e.kind == "task_succeeded"}  # type: ignore[attr-defined]
    assert all(ended[t] < started["merge"] for t in active)  # it waited for each of them
    assert result.output == "|".join(
        t if t in active else "" for t in ("legal_review", "tax_review", "plain_review")
    )


async def test_the_or_join_is_skipped_when_an_activated_branch_fails(store: SqliteStore) -> None:
    flow, inputs = branches(legal=True, tax=False)

    def answer(request: ModelRequest) -> str:
        assert request.caller is not None
        if request.caller.task_id == "legal_review":
            raise ModelError("no lawyer today")
        return "ok"

    engine = LocalEngine(
        store=store, model=ScriptedModel(answer), retry=RetryPolicy(max_attempts=1)
    )

    result = await engine.execute(flow, inputs)  # type: ignore[arg-type]

    assert result.tasks["merge"].status == "skipped"
    assert result.tasks["merge"].error == "needs not met (legal_review failed)"
