"""Frame: where a task runs: which workflow's agents, which context, which iteration.

The root frame is the workflow's; a loop body, a map item and a sub-workflow each run in a
child frame that qualifies task ids (``revise/draft``, ``extract[2]``, ``diligence/summary``)
so every event names exactly one task instance.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import JsonValue

from podium.agent import Agent
from podium.context import Context
from podium.errors import ConfigError
from podium.ids import TaskId
from podium.task import Task
from podium.workflow.model import Workflow

__all__ = ["CONTEXT_BUDGET_TOKENS", "Frame"]

CONTEXT_BUDGET_TOKENS = 1500
"""Default budget of the ``{{ context }}`` view in prompts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """The scope a task runs in."""

    workflow: Workflow
    context: Context
    prefix: str = ""
    extra: Mapping[str, JsonValue] = field(default_factory=dict[str, JsonValue])
    """Extra template values, e.g. a map's current item."""
    iteration: int = 0
    writes_output: bool = True
    """False for map items: the map collects their outputs and writes once."""
    slots: tuple[asyncio.Semaphore, ...] = ()
    """The concurrency limits of the sub-workflows this frame is inside: an agent task holds
    a slot of each (and of the run's ``Limits``) while it runs."""
    locks: dict[str, asyncio.Lock] = field(default_factory=dict[str, asyncio.Lock])
    """The run's critical sections (``lock:``) by name: one table, shared by every frame."""
    enclosing: tuple[Workflow, ...] = ()
    """The workflows this frame's workflow runs inside, outermost first (for ``recurse``)."""
    depth: int = 0
    """How many recursive calls (``recurse``) this frame is nested in."""

    def qualify(self, task_id: str) -> TaskId:
        """The run-wide id of a task of this frame."""
        return TaskId(self.prefix + task_id)

    def child(self, **changes: Any) -> Frame:  # Any: dataclass field values
        """A frame like this one with ``changes``."""
        return replace(self, **changes)

    def caller(self, name: str) -> Workflow | None:
        """The workflow called ``name``: this frame's own, or the nearest enclosing one."""
        for workflow in (self.workflow, *reversed(self.enclosing)):
            if workflow.name == name:
                return workflow
        return None

    def agent(self, task: Task) -> Agent:
        """The agent a task names (validated to exist before the run)."""
        agent = self.workflow.agent(task.agent or "")
        if agent is None:  # pragma: no cover - validation guarantees it
            raise ConfigError(f"task {task.id!r}: unknown agent {task.agent!r}")
        return agent

    def candidates(self, task: Task) -> tuple[Agent, ...]:
        """The agents of this frame's workflow that have the capability ``task`` names."""
        return tuple(a for a in self.workflow.agents if task.capability in a.capabilities)

    def values(self, names: Iterable[str], reader: Agent | None = None) -> dict[str, Any]:
        """Values for a template reading ``names``: context keys ``reader`` may read, extra
        values (a map item) and ``context`` (the readable context as prompt text).

        Only the names a template uses are looked up, so the cost does not grow with the
        context.
        """
        values: dict[str, Any] = self.context.select(names, reader)  # Any: template values
        for name in names:
            if name in self.extra:
                values[name] = self.extra[name]
        if "context" in names:
            values["context"] = _ContextText(self.context, reader)
        return values

    def evaluate(self, expression: str) -> Any:  # Any: whatever the expression computes
        """Evaluate a condition or list expression over this frame's values."""
        templates = self.workflow.templates
        names = templates.variables(expression, is_expression=True)
        return templates.evaluate(expression, self.values(names))

    def render(self, source: str) -> str:
        """Render a template over this frame's values."""
        templates = self.workflow.templates
        return templates.render(source, self.values(templates.variables(source)))


class _ContextText:
    """``{{ context }}`` in a template: the readable context within the prompt budget.

    Rendered only if a template uses it.
    """

    __slots__ = ("_context", "_reader")

    def __init__(self, context: Context, reader: Agent | None) -> None:
        self._context = context
        self._reader = reader

    def __str__(self) -> str:
        view = self._context.render(max_tokens=CONTEXT_BUDGET_TOKENS, reader=self._reader)
        return view.text
