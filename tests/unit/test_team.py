"""Teams: which team file a goal runs on, what makes a workflow a team, the goal's inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

import podium
from podium import Agent, ConfigError, ScriptedModel, SqliteStore, Task, Workflow
from podium.event import ApprovalRequested, PlanCreated, TaskStarted
from podium.task import PlanSpec
from podium.team import DEFAULT_TEAM, TEAM_FILE, check_team, find_team, goal_inputs
from podium.workflow.validate import problems
from podium.workflow.yaml import load_workflow

TEAM = Workflow(
    name="team",
    inputs={"goal": {"required": True}},
    agents=[Agent(name="planner"), Agent(name="researcher")],
    tasks=[Task(id="plan", plan=PlanSpec(goal="{{ goal }}", planner="planner"))],
)
NO_PLAN = TEAM.model_copy(
    update={"tasks": (Task(id="solo", agent="researcher", instruction="{{ goal }}"),)}
)


def test_the_default_team_is_a_valid_team() -> None:
    team = load_workflow(DEFAULT_TEAM)
    assert problems(team) == []
    check_team(team, DEFAULT_TEAM)
    (planning,) = [t for t in team.tasks if t.plan is not None]
    assert planning.plan is not None
    assert planning.plan.planner == "planner"
    assert planning.plan.agents == ("researcher", "analyst", "writer", "reviewer")
    assert {"goal", "docs", "approve_plan"} <= set(team.inputs)


def test_the_team_file_is_the_one_given_else_podium_yaml_else_the_default(
    tmp_path: Path,
) -> None:
    assert find_team(directory=tmp_path) == DEFAULT_TEAM
    local = tmp_path / TEAM_FILE
    local.write_text("name: mine\n")
    assert find_team(directory=tmp_path) == local.resolve()
    given = tmp_path / "other.yaml"
    given.write_text("name: other\n")
    assert find_team(given, directory=tmp_path) == given.resolve()
    with pytest.raises(ConfigError, match="no team file"):
        find_team(tmp_path / "missing.yaml")


def test_a_team_takes_a_goal_and_plans_it() -> None:
    no_goal = TEAM.model_copy(update={"inputs": {}})
    with pytest.raises(ConfigError, match="has no `goal` input"):
        check_team(no_goal)
    with pytest.raises(ConfigError, match=r"team file 'podium\.yaml' has no plan task"):
        check_team(NO_PLAN, Path("podium.yaml"))


def test_goal_inputs_are_checked_against_the_team(tmp_path: Path) -> None:
    team = load_workflow(DEFAULT_TEAM)
    assert goal_inputs(team, "  Size the market  ") == {"goal": "Size the market"}
    with pytest.raises(ConfigError, match="holds no documents to read"):
        goal_inputs(team, "g", docs=tmp_path)  # an empty folder: nothing to answer from
    (tmp_path / "notes.md").write_text("Some notes.")
    assert goal_inputs(team, "g", docs=tmp_path, approve_plan=True) == {
        "goal": "g",
        "docs": str(tmp_path.resolve()),
        "approve_plan": True,
    }
    with pytest.raises(ConfigError, match="the goal is empty"):
        goal_inputs(team, "   ")
    with pytest.raises(ConfigError, match="is not a directory"):
        goal_inputs(team, "g", docs=tmp_path / "missing")
    with pytest.raises(ConfigError, match="takes no `docs` input"):
        goal_inputs(TEAM, "g", docs=tmp_path)
    with pytest.raises(ConfigError, match="takes no `approve_plan` input"):
        goal_inputs(TEAM, "g", approve_plan=True)


async def test_a_goal_with_approve_plan_waits_before_any_step_runs(tmp_path: Path) -> None:
    plan = {"steps": [{"id": "facts", "agent": "researcher", "instruction": "Find facts"}]}
    async with SqliteStore(tmp_path / "runs.db") as store:
        result = await podium.arun(
            DEFAULT_TEAM,
            goal="Size the market",
            approve_plan=True,
            model=ScriptedModel({"planner": [plan]}),
            store=store,
        )
    assert result.status == "waiting"
    (request,) = [e for e in result.events if isinstance(e, ApprovalRequested)]
    assert request.task_id == "plan/planner"
    assert {e.task_id for e in result.events if isinstance(e, TaskStarted)} == {
        "plan",
        "plan/planner",
    }
    assert not [e for e in result.events if isinstance(e, PlanCreated)]


async def test_a_goal_needs_a_team() -> None:
    async with SqliteStore(":memory:") as store:
        with pytest.raises(ConfigError, match="has no plan task"):
            await podium.arun(NO_PLAN, goal="Size the market", store=store)
        assert await store.list_runs() == []
