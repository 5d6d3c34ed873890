"""Validation of the control-flow constructs: cancellation, OR-joins, early stops, locks.

Each problem is reported before the run, with the line it was written on.
"""

from __future__ import annotations

import textwrap

import pytest

from podium.errors import ConfigError
from podium.task import MapSpec
from podium.workflow.model import Workflow
from podium.workflow.validate import problems
from podium.workflow.yaml import parse_workflow


def _flow(text: str) -> Workflow:
    return parse_workflow(textwrap.dedent(text).lstrip("\n"), source="flow.yaml")


def _found(text: str) -> list[tuple[int | None, str]]:
    found = problems(_flow(text))
    return [(p.location.line if p.location else None, p.message) for p in found]


def test_the_constructs_load_from_yaml_and_are_valid() -> None:
    flow = _flow(
        """
        name: race
        agents: {w: {}}
        inputs: {docs: {default: [a, b]}}
        tasks:
          - {id: fast, agent: w}
          - {id: slow, agent: w, lock: ledger}
          - {id: pick, agent: w, needs: [fast, slow], join: any, cancel_rest: true}
          - {id: merge, agent: w, needs: [fast, slow], join: activated}
          - {id: stop, agent: w, needs: [pick], cancels: [scan], end: true}
          - id: scan
            map: {over: docs, task: {id: one, agent: w}, until: "results | length > 0"}
        """
    )
    assert problems(flow) == []
    pick, merge, stop, scan = flow.tasks[2:]
    assert pick.cancel_rest and pick.join == "any"
    assert merge.join == "activated"
    assert stop.end and stop.cancels == ("scan",)
    assert isinstance(scan.map, MapSpec) and scan.map.until == "results | length > 0"


def test_cancel_rest_needs_a_join_that_can_leave_needs_running() -> None:
    with pytest.raises(ConfigError, match="cancel_rest needs join: any") as raised:
        _flow(
            """
            name: w
            agents: {w: {}}
            tasks:
              - {id: a, agent: w}
              - {id: b, agent: w, needs: [a], cancel_rest: true}
            """
        )
    assert raised.value.problems[0].location is not None
    assert raised.value.problems[0].location.line == 5


def test_cancels_names_another_task_of_its_level() -> None:
    found = _found(
        """
        name: w
        agents: {w: {}}
        tasks:
          - {id: work, agent: w}
          - id: stop
            agent: w
            cancels: [stop, wrok]
        """
    )
    assert found == [
        (7, "task 'stop' cancels itself"),
        (7, "task 'stop' cancels 'wrok', which is not a task of its level; did you mean 'work'?"),
    ]


def test_end_inside_a_loop_body_is_refused() -> None:
    found = _found(
        """
        name: w
        agents: {w: {}}
        tasks:
          - id: revise
            loop:
              until: "true"
              max_iterations: 2
              tasks:
                - {id: draft, agent: w, end: true}
        """
    )
    assert len(found) == 1
    assert found[0][0] == 9
    assert found[0][1].startswith("task 'draft' ends its workflow, but it is inside loop 'revise'")


def test_a_lock_taken_again_inside_its_holder_is_a_deadlock() -> None:
    found = _found(
        """
        name: w
        agents: {w: {}}
        tasks:
          - id: outer
            lock: ledger
            workflow:
              name: inner
              agents: {w: {}}
              tasks:
                - {id: write, agent: w, lock: ledger}
        """
    )
    assert found == [
        (
            10,
            "task 'write' takes lock 'ledger', which 'outer' around it already holds: a deadlock",
        )
    ]


def test_joining_all_routes_of_one_router_can_never_start() -> None:
    found = _found(
        """
        name: w
        agents: {w: {}}
        tasks:
          - {id: pick, agent: w, routes: [yes_path, no_path]}
          - {id: yes_path, agent: w, needs: [pick]}
          - {id: no_path, agent: w, needs: [pick]}
          - {id: merge, agent: w, needs: [yes_path, no_path]}
          - {id: merge_chosen, agent: w, needs: [yes_path, no_path], join: activated}
        """
    )
    assert found == [
        (
            7,
            "task 'merge' joins yes_path, no_path, routes of which router 'pick' runs only one:"
            " it can never start; use `join: activated` (the branches chosen) or `join: any`",
        )
    ]


def test_a_wait_for_a_signal_nobody_declared_is_reported() -> None:
    found = _found(
        """
        name: w
        signals: {payment: {description: the provider confirms}}
        tasks:
          - {id: paid, wait: {signal: paymnet}}
        """
    )
    assert found == [
        (
            4,
            "task 'paid' waits for signal 'paymnet', which nobody can send: the workflow's"
            " `signals` do not declare it (declared: payment); did you mean 'payment'?",
        )
    ]


def test_recursion_needs_a_bound_and_an_enclosing_workflow() -> None:
    found = _found(
        """
        name: solve
        agents: {w: {}}
        tasks:
          - {id: step, agent: w}
          - id: again
            recurse: {workflow: solve}
          - id: elsewhere
            recurse: {workflow: slove, max_depth: 2}
        """
    )
    assert found == [
        (
            6,
            "task 'again' recurses into 'solve' without `max_depth`: unbounded recursion;"
            " bound it, e.g. max_depth: 3",
        ),
        (
            8,
            "task 'elsewhere' recurses into workflow 'slove', which neither is nor encloses it"
            " (enclosing: solve); did you mean 'solve'?",
        ),
    ]


def test_a_recursive_call_gives_the_inputs_its_workflow_declares() -> None:
    found = _found(
        """
        name: solve
        inputs: {question: {required: true}, depth: {default: 0}}
        agents: {w: {}}
        tasks:
          - {id: step, agent: w}
          - id: again
            recurse: {workflow: solve, max_depth: 2}
            inputs: {question: "{{ step }}", detph: "1"}
          - id: bare
            recurse: {workflow: solve, max_depth: 2}
        """
    )
    assert found == [
        (8, "workflow 'solve' has no input 'detph'; did you mean 'depth'?"),
        (9, "workflow 'solve' needs input 'question'; give it in `inputs`"),
    ]


DRAFT_CALLED_BACK = """
name: draft
agents: {w: {}}
tasks:
  - {id: write, agent: w}
  - id: check
    needs: [write]
    workflow:
      name: review
      agents: {w: {}}
      tasks:
        - {id: look, agent: w}
        - {id: again, recurse: {workflow: draft, max_depth: 2}, needs: [look]}
"""
"""A sub-workflow that recurses into the workflow around it."""


def test_a_sub_workflow_may_recurse_into_the_workflow_around_it() -> None:
    assert problems(_flow(DRAFT_CALLED_BACK)) == []


def test_a_recursive_call_into_an_enclosing_workflow_gives_its_inputs() -> None:
    needs_topic = DRAFT_CALLED_BACK.replace(
        "agents: {w: {}}", "inputs: {topic: {required: true}}\nagents: {w: {}}", 1
    )
    found = _found(needs_topic)
    assert found == [(13, "workflow 'draft' needs input 'topic'; give it in `inputs`")]
