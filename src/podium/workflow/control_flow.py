"""Checks of a workflow's control flow: ids, needs and cycles, loops, joins, routes, and the
constructs that withdraw tasks (``cancel_rest``, ``end``, ``cancels``), map early stops,
critical sections (``lock``) and the signals ``wait:`` tasks wait for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from podium.errors import Problem
from podium.ids import TaskId
from podium.task import AtLeast, Task
from podium.workflow.graph import find_cycle
from podium.workflow.model import Workflow
from podium.workflow.problem import (
    did_you_mean,
    enclosing,
    graph_levels,
    input_problems,
    line_of,
    located,
)

__all__ = ["CONTROL_FLOW_CHECKS"]

_LOOP_HINT = "to repeat tasks declare a loop with `until` and `max_iterations`"


def _unique_ids(workflow: Workflow) -> Iterator[Problem]:
    first: dict[str, str] = {}
    for path, task in workflow.walked():
        if task.id in first:
            where = line_of(workflow, first[task.id])
            msg = f"task id {task.id!r} is used twice (first at {where}); ids are unique"
            yield located(workflow, f"{path}.id", f"{msg} across the workflow, nested tasks too")
        else:
            first[task.id] = path


def _references(
    workflow: Workflow, field: Literal["needs", "cancels"]
) -> Iterator[tuple[str, Task, TaskId, set[TaskId]]]:
    """Each task id a task names in ``field``: (path, task, the id, the ids of its level)."""
    for level in graph_levels(workflow):
        ids = {t.id for _, t in level}
        for path, task in level:
            for index, target in enumerate(getattr(task, field)):
                yield f"{path}.{field}.{index}", task, target, ids


def _needs(workflow: Workflow) -> Iterator[Problem]:
    all_ids = {t.id for _, t in workflow.walked()}
    for at, task, need, ids in _references(workflow, "needs"):
        if need == task.id:
            yield located(workflow, at, f"task {task.id!r} needs itself; {_LOOP_HINT}")
        elif need not in ids:
            msg = f"task {task.id!r} needs {need!r}, which is not a task of its level"
            if need in all_ids:
                msg += " (a task can only need tasks of its own graph level)"
            yield located(workflow, at, msg + did_you_mean(need, ids))


def _cycles(workflow: Workflow) -> Iterator[Problem]:
    for level in graph_levels(workflow):
        tasks = [_without_self_need(t) for _, t in level]  # _needs reports those
        cycle = find_cycle(tasks)
        if cycle is None:
            continue
        path, first = next((p, t) for p, t in level if t.id == cycle[0])
        closing = cycle[-2]  # cycle[0] needs it, closing the cycle
        at = f"{path}.needs.{first.needs.index(closing)}" if closing in first.needs else path
        yield located(workflow, at, f"tasks form a cycle: {' -> '.join(cycle)}; {_LOOP_HINT}")


def _without_self_need(task: Task) -> Task:
    if task.id not in task.needs:
        return task
    return task.model_copy(update={"needs": tuple(n for n in task.needs if n != task.id)})


def _loops(workflow: Workflow) -> Iterator[Problem]:
    for path, task in workflow.walked():
        if task.loop is None:
            continue
        if task.loop.until is None:
            msg = f"loop {task.id!r} has no `until`: say when it is done, e.g. until: review.ok"
            yield located(workflow, f"{path}.loop", msg)
        if task.loop.max_iterations is None:
            msg = f"loop {task.id!r} has no `max_iterations`: bound it, e.g. max_iterations: 3"
            yield located(workflow, f"{path}.loop", msg)


def _joins(workflow: Workflow) -> Iterator[Problem]:
    for path, task in workflow.walked():
        if isinstance(task.join, AtLeast) and task.join.at_least > len(task.needs):
            msg = (
                f"task {task.id!r} joins at_least {task.join.at_least} of its needs,"
                f" but it has {len(task.needs)}"
            )
            yield located(workflow, f"{path}.join", msg)


def _exclusive_joins(workflow: Workflow) -> Iterator[Problem]:
    """``join: all`` (or ``at_least`` more than one) over routes of one router never starts:
    the router runs exactly one of them."""
    for level in graph_levels(workflow):
        routers = [t for _, t in level if t.routes]
        for path, task in level:
            required = task.join.at_least if isinstance(task.join, AtLeast) else 1
            if task.join == "all":
                required = len(task.needs)
            for router in routers:
                chosen = [n for n in task.needs if n in router.routes]
                if (
                    required > 1
                    and len(chosen) > 1
                    and len(task.needs) - len(chosen) + 1 < required
                ):
                    msg = f"task {task.id!r} joins {', '.join(chosen)}, routes of which router "
                    msg += f"{router.id!r} runs only one: it can never start; use "
                    msg += "`join: activated` (the branches chosen) or `join: any`"
                    yield located(workflow, f"{path}.join", msg)


def _routes(workflow: Workflow) -> Iterator[Problem]:
    for level in graph_levels(workflow):
        by_id = {t.id: t for _, t in level}
        for path, task in level:
            for index, route in enumerate(task.routes):
                target = by_id.get(route)
                at = f"{path}.routes.{index}"
                if target is None:
                    msg = f"route {route!r} of task {task.id!r} is not a task of its level"
                    yield located(workflow, at, msg + did_you_mean(route, by_id))
                elif task.id not in target.needs:
                    msg = f"route {route!r} must list {task.id!r} in its needs"
                    yield located(workflow, at, f"{msg}, so it waits for the router's choice")


def _withdrawals(workflow: Workflow) -> Iterator[Problem]:
    """``cancels`` names other tasks of the same level; ``end`` does not sit in a loop body or
    a map, where "the workflow" it would end is not its own."""
    for at, task, target, ids in _references(workflow, "cancels"):
        if target == task.id:
            yield located(workflow, at, f"task {task.id!r} cancels itself")
        elif target not in ids:
            msg = f"task {task.id!r} cancels {target!r}, which is not a task of its level"
            yield located(workflow, at, msg + did_you_mean(target, ids))
    for path, task in workflow.walked():
        for inner_path, inner in _bodies(task, path):
            if inner.end:
                msg = f"task {inner.id!r} ends its workflow, but it is inside {task.kind} "
                msg += f"{task.id!r}; use the loop's `until` or the map's `until`/`at_least`"
                yield located(workflow, f"{inner_path}.end", msg)


def _bodies(task: Task, path: str) -> Iterator[tuple[str, Task]]:
    if task.loop is not None:
        yield from ((f"{path}.loop.tasks.{i}", t) for i, t in enumerate(task.loop.tasks))
    if task.map is not None:
        yield f"{path}.map.task", task.map.task


def _locks(workflow: Workflow) -> Iterator[Problem]:
    """A task holding a lock cannot contain a task that takes the same lock: it would wait
    for itself forever."""
    for path, task in workflow.walked():
        if task.lock is None:
            continue
        for inner_path, inner in _inside(task, path):
            if inner.lock == task.lock:
                msg = f"task {inner.id!r} takes lock {task.lock!r}, which {task.id!r} around it"
                yield located(workflow, f"{inner_path}.lock", msg + " already holds: a deadlock")


def _inside(task: Task, path: str) -> Iterator[tuple[str, Task]]:
    """Every task nested in ``task``: loop and map bodies and sub-workflows, to any depth."""
    children = list(_bodies(task, path))
    if task.workflow is not None:
        prefix = f"{path}.workflow.tasks"
        children += [(f"{prefix}.{i}", t) for i, t in enumerate(task.workflow.tasks)]
    for child_path, child in children:
        yield child_path, child
        yield from _inside(child, child_path)


def _signals(workflow: Workflow) -> Iterator[Problem]:
    """A ``wait:`` task waits for a signal its workflow declares in ``signals``: one it does
    not declare is one nobody knows to send (a typo, most often)."""
    for path, task in workflow.walked():
        if task.wait is not None and task.wait.signal not in workflow.signals:
            name = task.wait.signal
            declared = ", ".join(workflow.signals) or "none"
            msg = f"task {task.id!r} waits for signal {name!r}, which nobody can send: the "
            msg += f"workflow's `signals` do not declare it (declared: {declared})"
            yield located(
                workflow, f"{path}.wait.signal", msg + did_you_mean(name, workflow.signals)
            )


def _recursion(workflow: Workflow) -> Iterator[Problem]:
    """A recursive call names this workflow or one enclosing it, gives it the inputs it
    declares, and has a depth bound."""
    callees = {w.name: w for w in enclosing()}  # the innermost of a name is the one called
    names = list(callees)
    for path, task in workflow.walked():
        spec = task.recurse
        if spec is None:
            continue
        callee = callees.get(spec.workflow)
        if callee is not None:
            yield from input_problems(workflow, path, task, callee)
        else:
            msg = f"task {task.id!r} recurses into workflow {spec.workflow!r}, which neither is "
            msg += f"nor encloses it (enclosing: {', '.join(names)})"
            hint = did_you_mean(spec.workflow, names)
            yield located(workflow, f"{path}.recurse.workflow", msg + hint)
        if spec.max_depth is None:
            msg = f"task {task.id!r} recurses into {spec.workflow!r} without `max_depth`: "
            msg += "unbounded recursion; bound it, e.g. max_depth: 3"
            yield located(workflow, f"{path}.recurse", msg)


CONTROL_FLOW_CHECKS = (
    _unique_ids,
    _needs,
    _cycles,
    _loops,
    _joins,
    _exclusive_joins,
    _routes,
    _withdrawals,
    _locks,
    _signals,
    _recursion,
)
"""The control-flow checks, in the order their problems are reported."""
