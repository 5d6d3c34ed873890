"""What the workflow checks share: locating a problem, naming a line, suggesting a name,
and the graph levels of a workflow.

A *graph level* is the top-level tasks, the tasks of one loop body, or a map's task: ``needs``,
``routes`` and ``cancels`` name tasks of the same level, and only tasks of one level run side
by side.
"""

from __future__ import annotations

import difflib
from collections.abc import Generator, Iterable
from contextlib import contextmanager
from contextvars import ContextVar

from podium.errors import Problem
from podium.task import Task
from podium.workflow.model import Workflow, walk

__all__ = [
    "Level",
    "checking",
    "did_you_mean",
    "enclosing_names",
    "graph_levels",
    "line_of",
    "located",
    "produced_keys",
]

_enclosing: ContextVar[tuple[str, ...]] = ContextVar("podium_checked_workflows", default=())


@contextmanager
def checking(workflow: Workflow) -> Generator[None]:
    """Mark ``workflow`` as being checked, inside the workflows being checked around it (a
    sub-workflow is checked on its own, but may call an enclosing workflow recursively)."""
    token = _enclosing.set((*_enclosing.get(), workflow.name))
    try:
        yield
    finally:
        _enclosing.reset(token)


def enclosing_names() -> tuple[str, ...]:
    """The names of the workflows being checked, outermost first, the current one last."""
    return _enclosing.get()


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
    """Every graph level of ``workflow`` (not of its sub-workflows: each is checked alone)."""
    levels = [[(f"tasks.{i}", t) for i, t in enumerate(workflow.tasks)]]
    for path, task in walk(workflow.tasks):
        if task.loop is not None:
            body = task.loop.tasks
            levels.append([(f"{path}.loop.tasks.{i}", t) for i, t in enumerate(body)])
        if task.map is not None:
            levels.append([(f"{path}.map.task", task.map.task)])
    return levels


def produced_keys(workflow: Workflow) -> frozenset[str]:
    """Keys something writes: inputs, declared context keys, task outputs (not map items)."""
    outputs = {t.output_key for path, t in walk(workflow.tasks) if ".map." not in path}
    if any(t.plan is not None and t.plan.docs for _, t in walk(workflow.tasks)):
        outputs.add("sources")  # the passages a plan retrieves (``podium.orchestrator.planning``)
    return frozenset(workflow.inputs) | frozenset(workflow.context) | outputs
