"""Meters: what each budget scope of a run has used, and the ``Stop`` a limit makes.

``podium.engine.guard`` keeps one ``Meter`` per scope with a budget (the run, an agent, a task
instance) and asks it, after each event that changed it, whether it went over a limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from podium.budget import Budget
from podium.ids import TaskId
from podium.task import Task
from podium.workflow.model import Workflow

__all__ = ["RUN_KEY", "Budgets", "Meter", "Stop", "TaskKey"]

TaskKey = tuple[TaskId, int]
"""A task instance: qualified task id and loop iteration."""
RUN_KEY: Final[TaskKey] = (TaskId(""), 0)
"""The run's own interval in the run meter."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop:
    """Why the guard stopped a run: the fields of its ``budget_exceeded`` event."""

    scope: str
    """``run``, ``agent:NAME`` or ``task:ID``."""
    limit: str
    """``tasks``, ``tokens``, ``cost``, ``model_calls``, ``wall_time`` or ``loop``."""
    used: float
    allowed: float
    reason: str

    @property
    def error(self) -> str:
        """The run's error."""
        return f"budget exceeded: {self.reason}"


@dataclass(slots=True, eq=False)  # compared (and hashed) by identity
class Meter:
    """What one budget scope has used so far."""

    scope: str
    who: str
    """How the reason names it: ``the run``, ``agent 'writer'``, ``task 'draft'``."""
    budget: Budget
    tokens: int = 0
    cost: float = 0.0
    model_calls: int = 0
    started: set[TaskKey] = field(default_factory=set[TaskKey])
    """Agent task instances started in scope."""
    spent: timedelta = timedelta(0)
    """Wall time of the intervals that ended."""
    running: dict[TaskKey, datetime] = field(default_factory=dict[TaskKey, datetime])
    """Intervals still going, by task instance (the run's own is ``RUN_KEY``)."""

    def open(self, key: TaskKey, at: datetime) -> None:
        self.running.setdefault(key, at)

    def close(self, key: TaskKey, at: datetime) -> None:
        since = self.running.pop(key, None)
        if since is not None:
            self.spent += max(at - since, timedelta(0))

    def wall_time(self, now: datetime) -> timedelta:
        return self.spent + sum((now - since for since in self.running.values()), timedelta(0))

    def deadline(self, now: datetime) -> datetime | None:
        """When the wall-time budget runs out if what runs now keeps running."""
        limit = self.budget.max_wall_time
        if limit is None or not self.running:
            return None
        left = limit - self.wall_time(now)
        return now - (-left // len(self.running))  # rounded up: reached, not just short of it

    def over(self, now: datetime) -> Stop | None:
        """The first limit this scope went over, if any."""
        budget = self.budget
        counted: tuple[tuple[str, float, float | None], ...] = (
            ("tasks", len(self.started), budget.max_tasks),
            ("model_calls", self.model_calls, budget.max_model_calls),
            ("tokens", self.tokens, budget.max_tokens),
            ("cost", self.cost, budget.max_cost),
        )
        for limit, used, allowed in counted:
            if allowed is not None and used > allowed:
                return self._stop(limit, used, allowed)
        if budget.max_wall_time is not None:
            elapsed = self.wall_time(now)
            if elapsed >= budget.max_wall_time:
                allowed_s = budget.max_wall_time.total_seconds()
                return self._stop("wall_time", elapsed.total_seconds(), allowed_s)
        return None

    def _stop(self, limit: str, used: float, allowed: float) -> Stop:
        said = {
            "tasks": f"started {used:,.0f} tasks, over its max_tasks of {allowed:,.0f}",
            "model_calls": f"made {used:,.0f} model calls, over its max_model_calls of "
            f"{allowed:,.0f}",
            "tokens": f"used {used:,.0f} tokens, over its max_tokens of {allowed:,.0f}",
            "cost": f"cost ${used:,.4f}, over its max_cost of ${allowed:,.4f}",
            "wall_time": f"ran for {used:,.1f}s, reaching its max_wall_time of {allowed:,.1f}s",
        }[limit]
        return Stop(scope=self.scope, limit=limit, used=used, allowed=allowed,
                    reason=f"{self.who} {said}")  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Budgets:
    """Every budget of a workflow, by where it applies."""

    agents: dict[str, Budget]
    tasks: dict[str, Budget]
    """By task shape: the qualified id with map indexes as ``[]`` (``extract[]/draft``)."""

    @property
    def has_timed_tasks(self) -> bool:
        budgets = (*self.agents.values(), *self.tasks.values())
        return any(b.max_wall_time is not None for b in budgets)

    @classmethod
    def of(cls, workflow: Workflow) -> Budgets:
        agents: dict[str, Budget] = {}
        tasks: dict[str, Budget] = {}
        _collect(workflow, "", agents, tasks)
        return cls(agents=agents, tasks=tasks)


def _collect(
    workflow: Workflow, prefix: str, agents: dict[str, Budget], tasks: dict[str, Budget]
) -> None:
    """Gather the budgets of ``workflow``'s agents and tasks (shapes under ``prefix``)."""
    for agent in workflow.agents:
        if agent.budget is not None:
            agents[agent.name] = agent.budget.tighten(agents.get(agent.name))
    for task in workflow.tasks:
        _collect_task(task, prefix + task.id, agents, tasks)


def _collect_task(
    task: Task, shape: str, agents: dict[str, Budget], tasks: dict[str, Budget]
) -> None:
    own = task.budget
    if task.workflow is not None and task.workflow.budget is not None:
        own = task.workflow.budget.tighten(own)
    if own is not None:
        tasks[shape] = own
    if task.map is not None:
        _collect_task(task.map.task, f"{shape}[]", agents, tasks)
    if task.loop is not None:
        for child in task.loop.tasks:
            _collect_task(child, f"{shape}/{child.id}", agents, tasks)
    if task.workflow is not None:
        _collect(task.workflow, f"{shape}/", agents, tasks)
