"""The planner's pure side: plan models and schema, checks and repairs, tasks, prompts."""

from __future__ import annotations

import json
from collections.abc import Collection

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from podium.agent import Agent
from podium.ids import TaskId
from podium.plan_prompt import plan_prompt, reask_prompt, replan_prompt
from podium.planner import Plan, PlanCheck, PlanStep, check_plan, plan_model, plan_tasks
from podium.task import Task
from podium.template import render
from podium.workflow.graph import find_cycle
from podium.workflow.model import Workflow
from podium.workflow.validate import problems

AGENTS = ("researcher", "writer", "critic")


def _step(step_id: str, *needs: str, agent: str = "writer", **fields: object) -> PlanStep:
    return PlanStep.model_validate(
        {"id": step_id, "agent": agent, "instruction": f"do {step_id}", "needs": list(needs)}
        | fields
    )


def _plan(*steps: PlanStep) -> Plan:
    return Plan.model_construct(steps=list(steps))  # some tests need a plan with no steps


def _check(
    *steps: PlanStep,
    capabilities: Collection[str] = (),
    max_tasks: int = 8,
    done: Collection[str] = (),
    reserved: Collection[str] = (),
    allows_approval: bool = True,
) -> PlanCheck:
    return check_plan(
        _plan(*steps),
        agents=AGENTS,
        capabilities=capabilities,
        max_tasks=max_tasks,
        done=done,
        reserved=reserved,
        allows_approval=allows_approval,
    )


def _needs(check: PlanCheck) -> dict[str, list[str]]:
    return {s.id: list(s.needs) for s in check.plan.steps}


# -- plan steps ----------------------------------------------------------------------------------


def test_a_step_names_an_agent_and_may_name_a_capability_to_route_by() -> None:
    assert _step("a").agent == "writer"
    step = PlanStep(id="a", agent="writer", capability="search", instruction="find")
    assert (step.agent, step.capability) == ("writer", "search")


def test_a_step_must_name_an_agent() -> None:
    # required, so a grammar-constrained small model cannot leave it out
    with pytest.raises(ValidationError, match="agent"):
        PlanStep.model_validate({"id": "a", "instruction": "x", "capability": "search"})


def test_a_step_id_is_a_name_later_templates_can_read() -> None:
    with pytest.raises(ValidationError, match="id"):
        PlanStep.model_validate({"id": "a-b", "agent": "writer", "instruction": "x"})


@pytest.mark.parametrize(
    "fields",
    [
        {"id": "1st"},
        {"id": "has space"},
        {"id": "x" * 42},
        {"instruction": ""},
        {"extra": "no"},
    ],
)
def test_a_step_rejects_bad_ids_empty_instructions_and_unknown_fields(
    fields: dict[str, str],
) -> None:
    with pytest.raises(ValidationError):
        PlanStep.model_validate({"id": "a", "agent": "w", "instruction": "x"} | fields)


def test_a_plan_has_at_least_one_step() -> None:
    with pytest.raises(ValidationError, match="at least 1 item"):
        Plan(steps=[])


# -- the schema the planner answers in -----------------------------------------------------------


def test_plan_model_limits_agents_to_the_team() -> None:
    model = plan_model(AGENTS, [], max_tasks=4)
    with pytest.raises(ValidationError, match="'researcher', 'writer' or 'critic'"):
        model.model_validate({"steps": [{"id": "a", "agent": "poet", "instruction": "x"}]})


def test_plan_model_instances_are_plans() -> None:
    model = plan_model(AGENTS, [], max_tasks=4)
    plan = model.model_validate({"steps": [{"id": "a", "agent": "critic", "instruction": "x"}]})
    assert isinstance(plan, Plan)
    assert isinstance(plan.steps[0], PlanStep)
    assert check_plan(plan, agents=AGENTS, max_tasks=4).is_ok


def test_plan_model_schema_bounds_the_steps_and_names_the_team() -> None:
    schema = plan_model(AGENTS, ["search"], max_tasks=5).model_json_schema()
    assert schema["properties"]["steps"]["minItems"] == 1
    assert schema["properties"]["steps"]["maxItems"] == 5
    step = schema["$defs"]["PlanStep"]
    assert step["properties"]["agent"]["enum"] == list(AGENTS)
    assert "agent" in step["required"]
    assert {"const": "search", "type": "string"} in step["properties"]["capability"]["anyOf"]
    assert '"$ref"' not in json.dumps(schema["$defs"])  # no recursion


def test_plan_model_without_capabilities_allows_none() -> None:
    model = plan_model(AGENTS, [], max_tasks=5)
    step = model.model_json_schema()["$defs"]["PlanStep"]
    assert step["properties"]["capability"]["type"] == "null"
    with pytest.raises(ValidationError, match="capability"):
        model.model_validate(
            {"steps": [{"id": "a", "agent": "writer", "capability": "x", "instruction": "x"}]}
        )


def test_plan_model_rejects_too_many_steps() -> None:
    model = plan_model(AGENTS, [], max_tasks=2)
    steps = [{"id": i, "agent": "writer", "instruction": "x"} for i in "abc"]
    with pytest.raises(ValidationError, match="at most 2 items"):
        model.model_validate({"steps": steps})


def test_plan_model_is_cached_per_arguments() -> None:
    assert plan_model(["a", "b"], [], max_tasks=3) is plan_model(("a", "b"), (), max_tasks=3)
    assert plan_model(["a", "b"], [], max_tasks=3) is not plan_model(["a"], [], max_tasks=3)


# -- checks that pass ----------------------------------------------------------------------------


def test_a_good_plan_passes_unchanged() -> None:
    plan = Plan(steps=[_step("a", agent="researcher"), _step("b"), _step("c", "a", "b")])
    check = check_plan(plan, agents=AGENTS, max_tasks=3)
    assert check.is_ok
    assert check.repairs == ()
    assert check.plan == plan


# -- problems: the planner is asked again --------------------------------------------------------


def test_a_plan_without_steps_is_a_problem() -> None:
    assert _check().problems == ("the plan has no steps",)


def test_a_revision_of_only_done_steps_has_no_steps() -> None:
    check = _check(_step("a"), done={"a"})
    assert not check.is_ok
    assert check.problems == ("the plan has no steps",)


def test_too_many_steps_is_a_problem() -> None:
    check = _check(_step("a"), _step("b"), _step("c"), max_tasks=2)
    assert check.problems == ("the plan has 3 steps; at most 2 are allowed: merge some",)


def test_done_steps_do_not_count_towards_the_limit() -> None:
    assert _check(_step("a"), _step("b"), _step("c"), max_tasks=2, done={"a"}).is_ok


def test_an_agent_not_on_the_team_is_a_problem_naming_the_team() -> None:
    (problem,) = _check(_step("a", agent="poet")).problems
    assert "step 'a' names agent 'poet'" in problem
    assert "allowed: researcher, writer, critic" in problem


def test_an_unknown_capability_is_a_problem_naming_the_known_ones() -> None:
    step = PlanStep(id="a", agent="writer", capability="painting", instruction="paint")
    (problem,) = _check(step, capabilities=["search", "writing"]).problems
    assert "step 'a' names capability 'painting'" in problem
    assert "allowed: search, writing" in problem
    (problem,) = _check(step).problems
    assert "allowed: none" in problem


def test_two_different_steps_with_one_id_are_a_problem() -> None:
    check = _check(_step("a"), _step("a", instruction="something else"), _step("b", "b"))
    assert check.problems == ("two different steps have the id 'a'; give each step its own id",)
    assert check.repairs == ()  # needs are ambiguous: the graph is left alone
    assert _needs(check)["b"] == ["b"]


def test_a_blank_instruction_is_a_problem() -> None:
    (problem,) = _check(_step("a", instruction=" \n\t")).problems
    assert "step 'a' has a blank instruction" in problem


def test_every_problem_is_reported_at_once() -> None:
    check = _check(_step("a", agent="poet"), _step("b", instruction=" "), max_tasks=1)
    assert len(check.problems) == 3


def test_repairs_are_still_made_when_there_are_problems() -> None:
    check = _check(_step("a", "a", agent="poet"))
    assert not check.is_ok
    assert check.repairs == ("step 'a' needed itself; dropped that need",)


# -- repairs -------------------------------------------------------------------------------------


def test_an_identical_copy_of_a_step_is_dropped() -> None:
    check = _check(_step("a"), _step("b", "a"), _step("a"))
    assert check.is_ok
    assert [s.id for s in check.plan.steps] == ["a", "b"]
    assert check.repairs == ("step 'a' was listed twice; dropped the copy",)


def test_a_need_on_the_step_itself_is_dropped() -> None:
    check = _check(_step("a"), _step("b", "b", "a"))
    assert check.is_ok
    assert _needs(check) == {"a": [], "b": ["a"]}
    assert check.repairs == ("step 'b' needed itself; dropped that need",)


def test_a_need_that_no_step_produces_is_dropped() -> None:
    check = _check(_step("a"), _step("b", "x", "a"))
    assert check.is_ok
    assert _needs(check)["b"] == ["a"]
    assert check.repairs == ("step 'b' needed 'x', which no step produces; dropped",)


def test_repeated_needs_are_merged_silently() -> None:
    check = _check(_step("a"), _step("b", "a", "a"))
    assert _needs(check)["b"] == ["a"]
    assert check.repairs == ()


def test_a_need_on_a_done_step_is_satisfied() -> None:
    check = _check(_step("b", "a"), done={"a"})
    assert check.is_ok
    assert check.repairs == ()
    assert _needs(check)["b"] == ["a"]
    assert plan_tasks(check.plan, done={"a"})[0].needs == ()


def test_a_step_already_done_is_dropped_and_its_result_kept() -> None:
    check = _check(_step("a"), _step("b", "a"), done={"a"})
    assert check.is_ok
    assert [s.id for s in check.plan.steps] == ["b"]
    assert _needs(check) == {"b": ["a"]}
    assert check.repairs == ("step 'a' is already done; kept its result",)


def test_a_step_with_a_reserved_id_is_renamed_and_its_dependents_follow() -> None:
    check = _check(_step("goal"), _step("b", "goal"), reserved={"goal", "topic"})
    assert check.is_ok
    assert _needs(check) == {"goal_step": [], "b": ["goal_step"]}
    (repair,) = check.repairs
    assert "'goal'" in repair
    assert "renamed it 'goal_step'" in repair


def test_a_renamed_step_takes_the_next_free_id() -> None:
    check = _check(_step("goal"), _step("goal_step"), reserved={"goal"}, done={"goal_step2"})
    assert [s.id for s in check.plan.steps] == ["goal_step3", "goal_step"]


def test_a_renamed_step_does_not_take_an_id_that_a_dangling_need_names() -> None:
    check = _check(_step("goal"), _step("b", "goal_step"), reserved={"goal"})
    assert [s.id for s in check.plan.steps] == ["goal_step2", "b"]
    assert _needs(check)["b"] == []


def test_a_renamed_long_id_is_still_a_valid_step_id() -> None:
    long_id = "k" * 41
    check = _check(_step(long_id), reserved={long_id})
    PlanStep.model_validate(check.plan.steps[0].model_dump())


def test_a_need_on_a_reserved_key_that_no_step_produces_is_dropped() -> None:
    check = _check(_step("a", "goal"), reserved={"goal"})
    assert _needs(check) == {"a": []}
    assert check.repairs == ("step 'a' needed 'goal', which no step produces; dropped",)


def test_a_two_step_cycle_is_broken_at_the_need_that_points_forward() -> None:
    check = _check(_step("a", "b"), _step("b", "a"))
    assert check.is_ok
    assert _needs(check) == {"a": [], "b": ["a"]}
    assert check.repairs == ("steps form a cycle: a -> b -> a; step 'a' no longer needs 'b'",)


def test_a_longer_cycle_is_shown_in_the_order_the_steps_would_run() -> None:
    check = _check(_step("a", "c"), _step("b", "a"), _step("c", "b"))
    assert _needs(check) == {"a": [], "b": ["a"], "c": ["b"]}
    assert check.repairs == ("steps form a cycle: a -> b -> c -> a; step 'a' no longer needs 'c'",)


def test_only_forward_needs_on_a_cycle_are_dropped() -> None:
    # "a" needs "d", listed later, but "d" does not need "a": that need is kept.
    check = _check(_step("a", "d"), _step("b", "c"), _step("c", "b"), _step("d"))
    assert _needs(check) == {"a": ["d"], "b": [], "c": ["b"], "d": []}
    assert len(check.repairs) == 1


def test_every_cycle_is_broken() -> None:
    steps = [_step("a", "b"), _step("b", "a", "c"), _step("c", "b"), _step("d", "d", "c")]
    check = _check(*steps)
    assert check.is_ok
    assert _needs(check) == {"a": [], "b": ["a"], "c": ["b"], "d": ["c"]}
    assert [r.split(";")[0] for r in check.repairs] == [
        "step 'd' needed itself",
        "steps form a cycle: a -> b -> a",
        "steps form a cycle: b -> c -> b",
    ]


def test_the_repaired_plan_keeps_the_class_of_the_plan() -> None:
    model = plan_model(AGENTS, [], max_tasks=4)
    plan = model.model_validate({"steps": [{"id": "a", "agent": "critic", "instruction": "x"}]})
    assert type(check_plan(plan, agents=AGENTS, max_tasks=4).plan) is model


# -- property: whatever the needs, a usable plan comes out acyclic --------------------------------

_IDS = ["a", "b", "c", "d", "e", "f", "goal", "goal_step"]


@st.composite
def _plans(draw: st.DrawFn) -> tuple[Plan, set[str]]:
    ids = draw(st.lists(st.sampled_from(_IDS), min_size=1, max_size=len(_IDS), unique=True))
    done = draw(st.sets(st.sampled_from([*_IDS, "old"])))
    targets = st.sampled_from([*_IDS, "old", "ghost"])
    steps = [
        _step(i, *draw(st.lists(targets, max_size=5)), agent=draw(st.sampled_from(AGENTS)))
        for i in ids
    ]
    return Plan(steps=steps), done


@given(_plans())
def test_a_repaired_plan_is_acyclic_with_no_dangling_needs(drawn: tuple[Plan, set[str]]) -> None:
    plan, done = drawn
    check = check_plan(plan, agents=AGENTS, max_tasks=len(_IDS), done=done, reserved={"goal"})
    steps = check.plan.steps
    if not steps:
        assert check.problems == ("the plan has no steps",)
        return
    assert check.is_ok
    ids = [s.id for s in steps]
    assert len(set(ids)) == len(ids)
    assert not set(ids) & (done | {"goal"})
    for step in steps:
        assert step.id not in step.needs
        assert len(set(step.needs)) == len(step.needs)
        assert set(step.needs) <= set(ids) | done
    assert find_cycle(plan_tasks(check.plan, done=done)) is None
    _assert_only_cycle_needs_dropped(plan, check, done)


def _assert_only_cycle_needs_dropped(plan: Plan, check: PlanCheck, done: set[str]) -> None:
    """Each need kept names what the planner meant; needs pointing back are all kept."""
    by_instruction = {s.instruction: s for s in check.plan.steps}
    new_id = {s.id: by_instruction[s.instruction].id for s in plan.steps if s.id not in done}
    position = {s.id: i for i, s in enumerate(check.plan.steps)}
    meant: dict[str, list[str]] = {}
    for original in (s for s in plan.steps if s.id not in done):
        step = by_instruction[original.instruction]
        targets = [n if n in done else new_id.get(n) for n in original.needs]
        meant[step.id] = [t for t in dict.fromkeys(targets) if t is not None and t != step.id]
        assert set(step.needs) <= set(meant[step.id])
        backward = [t for t in meant[step.id] if position.get(t, -1) < position[step.id]]
        assert set(backward) <= set(step.needs)
    intended = [
        Task(id=TaskId(i), agent="w", needs=tuple(map(TaskId, n))) for i, n in meant.items()
    ]
    if find_cycle(intended) is None:
        assert not [r for r in check.repairs if "cycle" in r]


# -- tasks ---------------------------------------------------------------------------------------


def test_plan_tasks_gives_one_agent_task_per_step() -> None:
    plan = Plan(
        steps=[
            _step("research", agent="researcher"),
            PlanStep(id="search", agent="writer", capability="search", instruction="find"),
            _step("draft", "research", "old", needs_approval=True),
        ]
    )
    research, search, draft = plan_tasks(plan, done={"old"})
    assert (research.id, research.agent, research.capability) == ("research", "researcher", None)
    assert (search.agent, search.capability) == (None, "search")
    assert draft.needs == ("research",)
    assert (research.approval, draft.approval) == (None, True)
    assert [t.output_key for t in (research, search, draft)] == ["research", "search", "draft"]


def test_plan_tasks_make_a_valid_workflow() -> None:
    plan = Plan(steps=[_step("a", agent="researcher"), _step("b", "a", instruction="{{ x }}")])
    team = tuple(Agent(name=name) for name in AGENTS)
    workflow = Workflow(name="plan", agents=team, tasks=plan_tasks(plan))
    assert problems(workflow) == []


def test_a_task_instruction_shows_the_step_then_the_results_it_builds_on() -> None:
    first = _step("research")
    step = _step("a", "research", instruction="Write the intro.", expected_output="Two paragraphs.")
    _, task = plan_tasks(Plan(steps=[first, step]))
    rendered = render(task.instruction, {"research": "notes " * 200})
    expected = (
        "Write the intro.\nExpected output: Two paragraphs.\n\n"
        "Results of the steps this one builds on:\n[research]\n"
    )
    assert rendered.startswith(expected)
    assert len(rendered) < len(expected) + 610  # cut to fit a small model's window


def test_a_task_with_no_needs_shows_only_its_step() -> None:
    (task,) = plan_tasks(Plan(steps=[_step("a", instruction="Write.")]))
    assert render(task.instruction, {}) == "Write."


@pytest.mark.parametrize(
    "text",
    [
        "Fill in {{ name }} and {% if x %}y{% endif %} {# note #}",
        "{% raw %}{{ a }}{% endraw %} then {% endraw %} alone",
        "{{{ braces }}}} and { single } and {%- trimmed -%}",
        "ends with a newline\n",
        "windows\r\nline ends\r",
        "{\r{\r\n{",
        "no template syntax at all",
    ],
)
def test_a_task_instruction_renders_the_step_text_literally(text: str) -> None:
    (task,) = plan_tasks(Plan(steps=[_step("a", instruction=text, expected_output="{{ out }}")]))
    rendered = render(task.instruction, {"context": "CTX", "name": "N", "x": True, "a": "A"})
    assert rendered == f"{text.rstrip()}\nExpected output: {{{{ out }}}}"


@given(st.text(min_size=1))
def test_any_instruction_renders_literally(text: str) -> None:
    (task,) = plan_tasks(Plan(steps=[_step("a", instruction=text)]))
    assert render(task.instruction, {"context": "CTX"}) == text


TEAM = (
    Agent(name="researcher", description="Finds sources.", capabilities=("search", "reading")),
    Agent(name="writer", description="Writes clear prose."),
    Agent(name="mailer"),
)


def test_plan_prompt_gives_the_goal_the_roster_and_the_rules() -> None:
    prompt = plan_prompt("A report on tides", TEAM, max_tasks=4, documents=["Tide tables"])
    assert "A report on tides" in prompt
    assert "- researcher: Finds sources. (capabilities: search, reading)" in prompt
    assert "- writer: Writes clear prose.\n" in prompt
    assert "- mailer\n" in prompt
    assert "- Tide tables" in prompt
    assert "At most 4 steps" in prompt
    for rule in ("snake_case", "exactly one agent", "earlier steps", "parallel", "needs_approval"):
        assert rule in prompt


def test_plan_prompt_without_documents_has_no_documents_section() -> None:
    assert "Documents" not in plan_prompt("goal", TEAM, max_tasks=4)


def test_replan_prompt_says_what_was_done_failed_and_rejected() -> None:
    previous = Plan(
        steps=[
            _step("research", agent="researcher", instruction="Find\nsources"),
            _step("draft", "research"),
            _step("review", "draft", agent="critic"),
        ]
    )
    prompt = replan_prompt(
        "A report on tides",
        TEAM,
        previous=previous,
        done={"research": "notes " * 100},
        failed={"draft": "ModelError: timed out"},
        rejected={"review": "too short"},
        max_tasks=3,
    )
    assert "A report on tides" in prompt
    assert "- researcher: Finds sources." in prompt
    assert "- research (researcher): Find sources" in prompt
    assert "- draft (writer, needs research): do draft" in prompt
    (done_line,) = [line for line in prompt.splitlines() if line.startswith("- research: ")]
    assert done_line.endswith("…")
    assert len(done_line) < 220
    assert "- draft: ModelError: timed out" in prompt
    assert "- review: too short" in prompt
    assert "do not repeat them; you may list their ids in needs" in prompt
    assert "At most 3 steps" in prompt


def test_replan_prompt_leaves_out_empty_sections() -> None:
    previous = Plan(steps=[_step("a")])
    prompt = replan_prompt(
        "g", TEAM, previous=previous, done={}, failed={"a": "x"}, rejected={}, max_tasks=2
    )
    assert "Failed" in prompt
    assert "Done" not in prompt
    assert "Rejected" not in prompt


def test_reask_prompt_lists_the_problems_after_the_prompt() -> None:
    prompt = reask_prompt("Plan it.", ["the plan has no steps", "step 'a' is bad"])
    assert prompt == (
        "Plan it.\n\nYour previous plan could not be used:\n"
        "- the plan has no steps\n- step 'a' is bad\n\nAnswer again with a corrected plan."
    )
