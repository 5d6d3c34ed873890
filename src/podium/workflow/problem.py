"""What the workflow checks share: locating a problem, naming a line, suggesting a name,
and the graph levels of a workflow.

A *graph level* is the top-level tasks, the tasks of one loop body, or a map's task: ``needs``,
``routes`` and ``cancels`` name tasks of the same level, and only tasks of one level run side
by side.
"""

from __future__ import annotations

import difflib
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from podium.errors import Problem
from podium.task import Task
from podium.workflow.model import Workflow

__all__ = [
    "Level",
    "checking",
    "did_you_mean",
    "enclosing",
    "graph_levels",
    "input_problems",
    "line_of",
    "located",
    "produced_keys",
]

_enclosing: ContextVar[tuple[Workflow, ...]] = ContextVar("podium_checked_workflows", default=())
_levels: ContextVar[tuple[Workflow, list[Level]] | None] = ContextVar(
    "podium_checked_levels", default=None
)
"""The graph levels of the workflow being checked, once listed."""


@contextmanager
def checking(workflow: Workflow) -> Generator[None]:
    """Mark ``workflow`` as being checked, inside the workflows being checked around it (a
    sub-workflow is checked on its own, but may call an enclosing workflow recursively)."""
    token = _enclosing.set((*_enclosing.get(), workflow))
    levels = _levels.set(None)
    try:
        yield
    finally:
        _levels.reset(levels)
        _enclosing.reset(token)


def enclosing() -> tuple[Workflow, ...]:
    """The workflows being checked, outermost first, the current one last."""
    return _enclosing.get()


def input_problems(
    workflow: Workflow, path: str, task: Task, callee: Workflow
) -> Iterator[Problem]:
    """What is wrong with the ``inputs`` a task at ``path`` gives the workflow it calls (a
    sub-workflow, or one it recurses into): names it does not declare, required ones missing.
    """
    what = f"workflow {callee.name!r}" if task.recurse else f"sub-workflow {callee.name!r}"
    for name in task.inputs:
        if name not in callee.inputs:
            msg = f"{what} has no input {name!r}"
            yield located(
                workflow, f"{path}.inputs.{name}", msg + did_you_mean(name, callee.inputs)
            )
    for name, spec in callee.inputs.items():
        if spec.required and name not in task.inputs:
            yield located(workflow, path, f"{what} needs input {name!r}; give it in `inputs`")


Level = list[tuple[str, Task]]
"""One graph level: each task with its document path."""


def located(workflow: Workflow, path: str, message: str) -> Problem:
    """A problem at dotted document ``path``, with its source location when known."""
    return Problem(message, workflow.location(path), path)


def line_of(workflow: Workflow, path: str) -> str:
    """``line N`` where ``path`` was written, or the path itself when that is not known."""
    location = workflow.location(path)
    return f"line {location.line}" if location and location.line else path


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the closest candidate, or nothing."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def graph_levels(workflow: Workflow) -> list[Level]:
    """Every graph level of ``workflow`` (not of its sub-workflows: each is checked alone).

    Listed once per check of a workflow (``checking``): several checks walk them.
    """
    known = _levels.get()
    if known is not None and known[0] is workflow:
        return known[1]
    levels = _graph_levels(workflow)
    checked = _enclosing.get()
    if checked and checked[-1] is workflow:  # kept for the other checks of this workflow
        _levels.set((workflow, levels))
    return levels


def _graph_levels(workflow: Workflow) -> list[Level]:
    levels = [[(f"tasks.{i}", t) for i, t in enumerate(workflow.tasks)]]
    for path, task in workflow.walked():
        if task.loop is not None:
            body = task.loop.tasks
            levels.append([(f"{path}.loop.tasks.{i}", t) for i, t in enumerate(body)])
        if task.map is not None:
            levels.append([(f"{path}.map.task", task.map.task)])
    return levels


def produced_keys(workflow: Workflow) -> frozenset[str]:
    """Keys something writes: inputs, declared context keys, task outputs (not map items)."""
    outputs = {t.output_key for path, t in workflow.walked() if ".map." not in path}
    if any(t.plan is not None and t.plan.docs for _, t in workflow.walked()):
        outputs.add("sources")  # the passages a plan retrieves (``podium.orchestrator.planning``)
    return frozenset(workflow.inputs) | frozenset(workflow.context) | outputs
