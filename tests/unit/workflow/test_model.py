"""Workflow: looking agents up by name, also after a copy changes them."""

from __future__ import annotations

from podium import Agent, Task, Workflow


def _flow(*names: str) -> Workflow:
    return Workflow(
        name="w",
        agents=[Agent(name=n, description=f"{n} #{i}") for i, n in enumerate(names)],
        tasks=[Task(id="t", agent=names[0], instruction="x")],
    )


def test_an_agent_is_found_by_name_and_an_unknown_name_finds_none() -> None:
    flow = _flow(*(f"a{i}" for i in range(500)))
    assert flow.agent("a321") is flow.agents[321]
    assert flow.agent("nobody") is None


def test_a_copy_with_other_agents_finds_its_own_and_the_original_keeps_its() -> None:
    flow = _flow("a", "b")
    assert flow.agent("b") is flow.agents[1]
    copy = flow.model_copy(update={"agents": (Agent(name="b", description="new"),)})
    assert copy.agent("b").description == "new"  # type: ignore[union-attr]
    assert copy.agent("a") is None
    assert flow.agent("b").description == "b #1"  # type: ignore[union-attr]


def test_looking_agents_up_does_not_change_what_a_workflow_equals() -> None:
    flow = _flow("a", "b")
    flow.agent("a")
    assert flow == _flow("a", "b")
