"""Whole-workflow validation: every problem at once, each with its path and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podium.agent import Agent
from podium.errors import Problem, WorkflowValidationError
from podium.ids import TaskId
from podium.task import Task
from podium.workflow.model import Workflow
from podium.workflow.validate import problems, validate
from podium.workflow.yaml import load_workflow, parse_workflow


def _flow(text: str) -> Workflow:
    return parse_workflow(textwrap.dedent(text).lstrip("\n"), source="flow.yaml")


def _found(text: str) -> list[tuple[int | None, str]]:
    """(line, message) of each problem of the workflow ``text``."""
    return [(_line(p), p.message) for p in problems(_flow(text))]


def _line(problem: Problem) -> int | None:
    return problem.location.line if problem.location else None


def _only(text: str) -> Problem:
    found = problems(_flow(text))
    assert len(found) == 1, found
    return found[0]


# -- a valid, realistic workflow -----------------------------------------------------------------

RESEARCH = """
    name: research
    inputs:
      topic: {required: true}
    context:
      notes: {merge: append}
    agents:
      planner:
        instructions: You plan research on {{ topic }}.
        output_schema:
          sections: list[str]
          depth: {type: str, enum: [short, long]}
      researcher:
        reads: [topic, plan]
        writes: [notes, research]
      writer: {}
      critic:
        output_schema: {approved: bool, comments: str}
      triage: {}
    tasks:
      - id: plan
        agent: planner
        instruction: Plan sections about {{ topic }}
      - id: background
        agent: researcher
        needs: [plan]
        instruction: Note background on {{ topic }}
        output: notes
      - id: research
        needs: [plan]
        map:
          over: plan.sections
          item: section
          task: {id: research_one, agent: researcher, instruction: "Research {{ section }}"}
      - id: refine
        needs: [research, background]
        join: {at_least: 1}
        loop:
          until: review.approved
          max_iterations: 3
          tasks:
            - id: draft
              agent: writer
              instruction: Write from {{ research }}; address {{ review.comments }}
            - {id: review, agent: critic, needs: [draft], instruction: "Review {{ draft }}"}
            - {id: jot, agent: researcher, needs: [draft], output: notes}
      - id: choose
        agent: triage
        needs: [refine]
        instruction: "Is this ready? {{ context }}"
        routes: [publish, polish]
      - id: publish
        agent: writer
        needs: [choose]
        instruction: Publish {{ draft }}
        output: final
      - id: polish
        workflow: polish.yaml
        needs: [choose]
        when: draft | length > 10
        inputs: {text: "{{ draft }}"}
        output: final
    output: final
    """

POLISH = """
    name: polish
    inputs:
      text: {required: true}
    agents:
      editor: {}
    tasks:
      - id: edit
        agent: editor
        instruction: Polish {{ text }}
    """


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def test_a_realistic_workflow_is_valid(tmp_path: Path) -> None:
    _write(tmp_path / "polish.yaml", POLISH)
    flow = load_workflow(_write(tmp_path / "research.yaml", RESEARCH))
    assert problems(flow) == []
    validate(flow)
    assert flow.output_key == "final"


def test_problems_in_a_sub_workflow_are_reported_under_the_task(tmp_path: Path) -> None:
    sub = _write(tmp_path / "polish.yaml", POLISH.replace("{{ text }}", "{{ txt }}"))
    flow = load_workflow(_write(tmp_path / "research.yaml", RESEARCH))
    (problem,) = problems(flow)
    assert problem.path == "tasks.6.workflow.tasks.0.instruction"
    assert problem.location is not None
    assert (problem.location.file, problem.location.line) == (str(sub), 9)
    assert problem.message.startswith("template reads 'txt', which nothing produces")
    assert problem.message.endswith("did you mean 'text'?")


def test_sub_workflow_inputs_must_exist_and_required_ones_be_given(tmp_path: Path) -> None:
    _write(tmp_path / "polish.yaml", POLISH)
    text = RESEARCH.replace('inputs: {text: "{{ draft }}"}', 'inputs: {txet: "{{ draft }}"}')
    flow = load_workflow(_write(tmp_path / "research.yaml", text))
    found = [(p.path, p.message) for p in problems(flow)]
    assert found == [
        ("tasks.6.inputs.txet", "sub-workflow 'polish' has no input 'txet'; did you mean 'text'?"),
        ("tasks.6", "sub-workflow 'polish' needs input 'text'; give it in `inputs`"),
    ]


# -- one problem each ----------------------------------------------------------------------------


def test_task_ids_are_unique_across_nested_tasks() -> None:
    problem = _only(
        """
        name: dup
        agents: {w: {}}
        tasks:
          - {id: a, agent: w}
          - id: again
            loop:
              until: a
              max_iterations: 2
              tasks:
                - {id: a, agent: w, output: b}
        """
    )
    assert problem.path == "tasks.1.loop.tasks.0.id"
    assert _line(problem) == 10
    assert problem.message.startswith("task id 'a' is used twice (first at line 4)")


def test_a_need_must_name_a_task_of_the_same_level() -> None:
    found = _found(
        """
        name: needs
        agents: {w: {}}
        tasks:
          - {id: draft, agent: w}
          - {id: edit, agent: w, needs: [draf]}
          - id: repeat
            loop:
              until: inner
              max_iterations: 2
              tasks:
                - {id: inner, agent: w, needs: [draft]}
        """
    )
    assert found == [
        (5, "task 'edit' needs 'draf', which is not a task of its level; did you mean 'draft'?"),
        (
            11,
            "task 'inner' needs 'draft', which is not a task of its level"
            " (a task can only need tasks of its own graph level)",
        ),
    ]


def test_a_task_cannot_need_itself() -> None:
    problem = _only(
        """
        name: self
        agents: {w: {}}
        tasks:
          - id: a
            agent: w
            needs:
              - a
        """
    )
    assert _line(problem) == 7
    assert problem.message == (
        "task 'a' needs itself; to repeat tasks declare a loop with `until` and `max_iterations`"
    )


def test_a_cycle_is_reported_as_a_path_with_the_loop_hint() -> None:
    problem = _only(
        """
        name: cycle
        agents: {w: {}}
        tasks:
          - {id: a, agent: w, needs: [c]}
          - {id: b, agent: w, needs: [a]}
          - {id: c, agent: w, needs: [b]}
          - {id: d, agent: w, needs: [c]}
        """
    )
    assert problem.path == "tasks.0.needs.0"
    assert _line(problem) == 4
    assert problem.message == (
        "tasks form a cycle: a -> b -> c -> a;"
        " to repeat tasks declare a loop with `until` and `max_iterations`"
    )


def test_a_cycle_inside_a_loop_body_is_found_there() -> None:
    problem = _only(
        """
        name: body
        agents: {w: {}}
        tasks:
          - id: repeat
            loop:
              until: b
              max_iterations: 2
              tasks:
                - {id: a, agent: w, needs: [b]}
                - {id: b, agent: w, needs: [a]}
        """
    )
    assert problem.path == "tasks.0.loop.tasks.0.needs.0"
    assert _line(problem) == 9
    assert problem.message.startswith("tasks form a cycle: a -> b -> a;")


def test_a_loop_needs_until_and_max_iterations() -> None:
    found = _found(
        """
        name: loops
        agents: {w: {}}
        tasks:
          - id: forever
            loop:
              tasks:
                - {id: step, agent: w}
        """
    )
    assert found == [
        (5, "loop 'forever' has no `until`: say when it is done, e.g. until: review.ok"),
        (5, "loop 'forever' has no `max_iterations`: bound it, e.g. max_iterations: 3"),
    ]


def test_a_task_must_name_a_known_agent() -> None:
    problem = _only(
        """
        name: agents
        agents: {writer: {}, critic: {}}
        tasks:
          - id: draft
            agent: wirter
        """
    )
    assert _line(problem) == 5
    assert problem.message == (
        "task 'draft' names agent 'wirter', which is not in `agents` (known: writer, critic)"
    )


def test_routes_name_siblings_that_need_the_router() -> None:
    found = _found(
        """
        name: routes
        agents: {w: {}}
        tasks:
          - {id: pick, agent: w, routes: [yes_path, no_path, nowhere]}
          - {id: yes_path, agent: w, needs: [pick]}
          - {id: no_path, agent: w}
        """
    )
    assert found == [
        (4, "route 'no_path' must list 'pick' in its needs, so it waits for the router's choice"),
        (4, "route 'nowhere' of task 'pick' is not a task of its level"),
    ]


def test_join_at_least_is_at_most_the_number_of_needs() -> None:
    problem = _only(
        """
        name: join
        agents: {w: {}}
        tasks:
          - {id: a, agent: w}
          - id: b
            agent: w
            needs: [a]
            join: {at_least: 2}
        """
    )
    assert _line(problem) == 8
    assert problem.message == "task 'b' joins at_least 2 of its needs, but it has 1"


def test_templates_and_expressions_must_parse() -> None:
    found = _found(
        """
        name: syntax
        agents: {w: {}}
        tasks:
          - id: a
            agent: w
            instruction: "Write {{ topic "
            when: "a and"
        """
    )
    assert [line for line, _ in found] == [6, 7]
    assert found[0][1] == (
        "invalid template 'Write {{ topic ': line 1 of the template: unexpected end of template,"
        " expected 'end of print statement'."
    )
    assert found[1][1].startswith("invalid expression 'a and': line 1 of the template:")


def test_every_variable_read_must_be_produced_by_something() -> None:
    found = _found(
        """
        name: variables
        inputs: {topic: {}}
        context: {style: {}}
        agents: {w: {instructions: "House style: {{ style }} {{ tone }}"}}
        tasks:
          - {id: draft, agent: w, instruction: "{{ topic }} {{ context }} {{ range(3) }}"}
          - id: each
            map:
              over: draft.sections
              item: section
              task: {id: one, agent: w, instruction: "{{ section }} {{ sectoin }}"}
          - {id: check, agent: w, instruction: "{{ one }}"}
        """
    )
    nothing = (
        "which nothing produces: it is not a workflow input, a key declared in `context`,"
        " or the output of a task"
    )
    assert found == [
        (11, f"template reads 'sectoin', {nothing}; did you mean 'section'?"),
        (12, f"template reads 'one', {nothing}"),  # a map item's output is not a context key
        (4, f"template reads 'tone', {nothing}"),
    ]


def test_an_agent_reads_only_what_its_scopes_allow() -> None:
    problem = _only(
        """
        name: scopes
        inputs: {topic: {}, secret: {}}
        agents:
          writer: {reads: [topic]}
        tasks:
          - {id: draft, agent: writer, instruction: "{{ topic }} {{ secret }}"}
        """
    )
    assert _line(problem) == 6
    assert problem.message == (
        "template reads 'secret', which agent 'writer' may not read (it reads ['topic']);"
        " widen its `reads`"
    )


def test_an_agent_writes_only_what_its_scopes_allow() -> None:
    problem = _only(
        """
        name: scopes
        agents:
          writer: {writes: [drafts.*, notes]}
        tasks:
          - id: draft
            agent: writer
            output: final
        """
    )
    assert problem.path == "tasks.0.output"
    assert _line(problem) == 7
    assert problem.message.startswith("agent 'writer' may not write 'final', the output of task")


CONCURRENT = """
    name: concurrent
    {context}
    agents: {{w: {{}}}}
    tasks:
      - {{id: start, agent: w}}
      - {{id: left, agent: w, needs: [start], output: notes}}
      - id: right
        needs: [start]
        loop:
          until: notes
          max_iterations: 2
          tasks:
            - {{id: done, agent: w, output: notes}}
    """


def test_concurrent_writers_of_one_key_are_a_problem() -> None:
    problem = _only(CONCURRENT.format(context=""))
    assert problem.path == "tasks.2"
    assert _line(problem) == 7
    assert problem.message.startswith(
        "tasks 'left' and 'right' may run at the same time and both write 'notes';"
    )
    assert "context: {notes: {merge: append}}" in problem.message


@pytest.mark.parametrize("merge", ["append", "last_writer_wins"])
def test_concurrent_writers_are_fine_when_the_key_merges(merge: str) -> None:
    flow = _flow(CONCURRENT.format(context=f"context: {{notes: {{merge: {merge}}}}}"))
    assert problems(flow) == []


def test_writers_ordered_by_needs_or_exclusive_routes_do_not_conflict() -> None:
    flow = _flow(
        """
        name: ordered
        agents: {w: {}}
        tasks:
          - {id: a, agent: w, output: x}
          - {id: b, agent: w, needs: [a], output: x}
          - {id: pick, agent: w, needs: [b], routes: [c, d]}
          - {id: c, agent: w, needs: [pick], output: y}
          - {id: d, agent: w, needs: [pick], output: y}
        """
    )
    assert problems(flow) == []


def test_a_reducer_must_import_as_a_callable() -> None:
    found = _found(
        """
        name: reducers
        context:
          fine: {merge: reducer, reducer: "operator:add"}
          none: {merge: reducer}
          gone: {merge: reducer, reducer: "no_module_like_this:join"}
          value: {merge: reducer, reducer: "math:pi"}
          stray: {reducer: "operator:add"}
        agents: {w: {}}
        tasks:
          - {id: t, agent: w}
        """
    )
    assert [line for line, _ in found] == [4, 5, 6, 7]
    assert (
        found[0][1]
        == "context key 'none' merges by reducer but names none; add reducer: module:function"
    )
    assert found[1][1].startswith("reducer of 'gone': cannot import module 'no_module_like_this'")
    assert found[2][1] == "reducer of 'value': 'math:pi' is not callable"
    assert (
        found[3][1]
        == "context key 'stray' names a reducer but merges by 'single'; set merge: reducer"
    )


def test_the_workflow_output_must_be_written_by_a_task() -> None:
    problem = _only(
        """
        name: output
        agents: {w: {}}
        tasks:
          - {id: draft, agent: w}
        output: drafts
        """
    )
    assert _line(problem) == 5
    assert (
        problem.message
        == "the workflow's output 'drafts' is not written by any task; did you mean 'draft'?"
    )


PLANNED = """
    name: planned
    inputs:
      goal: {default: Compare bikes}
    agents:
      chief: {}
      scout: {capabilities: [research]}
      scribe: {}
    tasks:
      - id: plan
        plan:
          goal: "{{ goal }}"
          planner: chief
          max_tasks: 2
          steps:
            - {id: look, agent: scout, instruction: Look around.}
            - %s
    """
"""A plan task whose steps are written in (as ``--plan-only`` prints them); the second
step, on line 16, is the test's."""

_STEP_KEYS = "id, agent, capability, instruction, needs, expected_output, needs_approval"


@pytest.mark.parametrize(
    "step",
    [
        "{id: write_up, agent: scribe, instruction: Write it up., needs: [look]}",
        "{id: write_up, agent: scout, capability: research, instruction: Write., needs: [gone]}",
        "{id: goal, agent: scribe, instruction: Write it up.}",  # renamed: a context key
    ],
)
def test_plan_steps_the_engine_can_run_or_repair_are_valid(step: str) -> None:
    assert problems(_flow(PLANNED % step)) == []


@pytest.mark.parametrize(
    ("step", "line", "message"),
    [
        (
            "{id: write_up, agent: chief, instruction: Write.}",
            16,
            "step 'write_up', agent: Input should be 'scout' or 'scribe'",
        ),
        (
            "{id: write_up, agent: scribe, capability: writing, instruction: Write.}",
            16,
            "step 'write_up', capability: Input should be 'research'",
        ),
        (
            "{id: look, agent: scribe, instruction: Write.}",
            16,
            "two different steps have the id 'look'; give each step its own id",
        ),
        (
            "{id: write-up, agent: scribe, instruction: Write.}",
            16,
            "step 'write-up', id: String should match pattern '^[A-Za-z_][A-Za-z0-9_]{0,40}$'",
        ),
        (
            "{id: write_up, agent: scribe, instruction: Write.}"
            "\n            - {id: x, agent: scout, instruction: X.}"
            "\n            - {id: y, agent: scout, instruction: Y.}",
            17,
            "steps: List should have at most 2 items after validation, not 4 (its max_tasks)",
        ),
        (
            "{id: write_up, agent: scribe, instruction: Write., colour: red}",
            16,
            f"step 'write_up' has an unknown key 'colour' (a step has: {_STEP_KEYS})",
        ),
        (
            '{id: write_up, agent: scribe, instruction: "  "}',
            16,
            "step 'write_up' has a blank instruction; say what the step must do",
        ),
        (
            "{agent: scribe, instruction: Write.}",
            16,
            "step 2, id: Field required",
        ),
    ],
)
def test_plan_steps_written_in_the_workflow_are_checked_as_a_plan(
    step: str, line: int, message: str
) -> None:
    problem = _only(PLANNED % step)

    assert problem.message == f"plan 'plan': {message}"
    assert _line(problem) == line
    assert problem.path.startswith("tasks.0.plan.steps.")


# -- all at once ---------------------------------------------------------------------------------


def test_every_problem_is_raised_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "three.yaml",
        """
        name: three
        agents: {w: {}}
        tasks:
          - {id: a, agent: w, needs: [b]}
          - {id: b, agent: w, needs: [a]}
          - {id: c, agent: nobody}
          - {id: d, agent: w, instruction: "{{ missing }}"}
        """,
    )
    with pytest.raises(
        WorkflowValidationError, match=r"workflow three is invalid: 3 problems"
    ) as caught:
        validate(load_workflow(path))
    lines = [(_line(p), p.message.split(":")[0]) for p in caught.value.problems]
    assert lines == [
        (4, "tasks form a cycle"),
        (6, "task 'c' names agent 'nobody', which is not in `agents` (known"),
        (7, "template reads 'missing', which nothing produces"),
    ]
    assert f"{path}:6:" in str(caught.value)


def test_a_workflow_built_in_python_is_validated_without_locations() -> None:
    flow = Workflow(
        name="py",
        agents=(Agent(name="w"),),
        tasks=(Task(id=TaskId("a"), agent="w", needs=(TaskId("a"),)),),
    )
    with pytest.raises(WorkflowValidationError, match=r"workflow py is invalid: 1 problem\n"):
        validate(flow)
    assert problems(flow) == [
        Problem(
            "task 'a' needs itself; to repeat tasks declare a loop with `until` and"
            " `max_iterations`",
            None,
            "tasks.0.needs.0",
        )
    ]


# -- property ------------------------------------------------------------------------------------


@st.composite
def cyclic_workflows(draw: st.DrawFn) -> Workflow:
    """A random DAG of agent tasks (each needs only earlier ones) plus one edge closing a cycle."""
    count = draw(st.integers(min_value=2, max_value=10))
    needs: list[set[int]] = [
        set(draw(st.lists(st.integers(0, i - 1), unique=True))) if i else set[int]()
        for i in range(count)
    ]
    late = draw(st.integers(1, count - 1))
    early = draw(st.integers(0, late - 1))
    needs[late].add(early)  # late needs early ...
    needs[early].add(late)  # ... and early needs late: a cycle
    tasks = [
        Task(id=TaskId(f"t{i}"), agent="w", needs=tuple(TaskId(f"t{n}") for n in sorted(needs[i])))
        for i in range(count)
    ]
    order = draw(st.permutations(tasks))
    return Workflow(name="generated", agents=(Agent(name="w"),), tasks=tuple(order))


@given(cyclic_workflows())
def test_validation_rejects_every_workflow_with_a_cycle(flow: Workflow) -> None:
    with pytest.raises(WorkflowValidationError, match=r"tasks form a cycle: (t\d+ -> )+t\d+;"):
        validate(flow)
