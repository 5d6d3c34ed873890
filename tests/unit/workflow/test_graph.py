"""Graph helpers over one level of tasks: dependents, cycles, ancestors, topological order."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podium.errors import ConfigError
from podium.ids import TaskId
from podium.task import Task
from podium.workflow.graph import ancestors, dependents, find_cycle, topological_order


def _task(task_id: str, *needs: str) -> Task:
    return Task(id=TaskId(task_id), agent="worker", needs=tuple(TaskId(n) for n in needs))


DIAMOND = [_task("a"), _task("b", "a"), _task("c", "a"), _task("d", "b", "c")]


def test_dependents_lists_the_tasks_that_need_each_task() -> None:
    assert dependents(DIAMOND) == {"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}


def test_dependents_ignores_needs_outside_the_level() -> None:
    assert dependents([_task("a", "elsewhere")]) == {"a": []}


def test_ancestors_are_transitive() -> None:
    assert ancestors(DIAMOND) == {
        "a": frozenset(),
        "b": {"a"},
        "c": {"a"},
        "d": {"a", "b", "c"},
    }


def test_ancestors_terminate_on_a_cycle() -> None:
    result = ancestors([_task("a", "b"), _task("b", "a")])
    assert result == {"a": {"a", "b"}, "b": {"a", "b"}}


def test_topological_order_keeps_declaration_order_among_ready_tasks() -> None:
    tasks = [_task("late", "early"), _task("x"), _task("early"), _task("y", "x")]
    assert topological_order(tasks) == ["x", "early", "late", "y"]


def test_topological_order_rejects_a_cycle_and_shows_it() -> None:
    with pytest.raises(ConfigError, match=r"cycle: a -> b -> a"):
        topological_order([_task("a", "b"), _task("b", "a"), _task("c")])


def test_find_cycle_returns_the_path_in_run_order() -> None:
    tasks = [_task("a", "c"), _task("b", "a"), _task("c", "b"), _task("d", "a")]
    assert find_cycle(tasks) == ["a", "b", "c", "a"]


def test_find_cycle_reports_a_self_dependency() -> None:
    assert find_cycle([_task("a"), _task("b", "b")]) == ["b", "b"]


def test_find_cycle_is_none_for_a_dag() -> None:
    assert find_cycle(DIAMOND) is None


# -- properties --------------------------------------------------------------------------------


@st.composite
def dags(draw: st.DrawFn, min_tasks: int = 1) -> list[Task]:
    """A random DAG: tasks are ordered, each needs only earlier ones; then shuffled."""
    count = draw(st.integers(min_value=min_tasks, max_value=12))
    ids = [f"t{i}" for i in range(count)]
    tasks = [
        _task(ids[i], *draw(st.lists(st.sampled_from(ids[:i]), unique=True)) if i else ())
        for i in range(count)
    ]
    return draw(st.permutations(tasks))


@st.composite
def cyclic_graphs(draw: st.DrawFn) -> list[Task]:
    """A random DAG plus one back edge: an earlier task needs a later one it reaches."""
    tasks = draw(dags(min_tasks=2))
    reach = ancestors(tasks)
    pairs = [(early, late) for late in reach for early in reach[late]]
    if not pairs:  # nothing needs anything yet: chain two tasks first
        first, second = tasks[0], tasks[1]
        tasks[1] = _task(second.id, *second.needs, first.id)
        pairs = [(first.id, second.id)]
    early, late = draw(st.sampled_from(sorted(pairs)))
    index = next(i for i, t in enumerate(tasks) if t.id == early)
    tasks[index] = _task(early, *tasks[index].needs, late)
    return tasks


def _is_cycle_of(cycle: list[TaskId], tasks: list[Task]) -> bool:
    needs = {t.id: set(t.needs) for t in tasks}
    edges_hold = all(a in needs[b] for a, b in itertools.pairwise(cycle))
    return len(cycle) >= 2 and cycle[0] == cycle[-1] and edges_hold


@given(cyclic_graphs())
def test_find_cycle_finds_a_real_cycle_in_every_cyclic_graph(tasks: list[Task]) -> None:
    cycle = find_cycle(tasks)
    assert cycle is not None
    assert _is_cycle_of(cycle, tasks)


@given(dags())
def test_find_cycle_finds_none_in_a_dag(tasks: list[Task]) -> None:
    assert find_cycle(tasks) is None


@given(dags())
def test_topological_order_puts_needs_first(tasks: list[Task]) -> None:
    order = topological_order(tasks)
    position = {task_id: index for index, task_id in enumerate(order)}
    assert sorted(order) == sorted(t.id for t in tasks)
    assert all(position[n] < position[t.id] for t in tasks for n in t.needs)


@given(dags())
def test_dependents_invert_needs_and_ancestors_close_them(tasks: list[Task]) -> None:
    children = dependents(tasks)
    before = ancestors(tasks)
    assert {(n, t.id) for t in tasks for n in t.needs} == {
        (parent, child) for parent, kids in children.items() for child in kids
    }
    for task in tasks:
        assert set(task.needs) <= before[task.id]
        assert all(before[n] <= before[task.id] for n in task.needs)
        assert task.id not in before[task.id]
