"""Budget: limits on what a run, an agent or a task may spend, as data.

Budgets nest: a workflow's ``budget`` bounds the whole run, an agent's bounds everything that
agent does over the run, a task's bounds one instance of the task (one loop iteration, one map
item; for a map, loop or sub-workflow task, its children too). Every limit is optional, and a
limit is exceeded when the amount used goes *over* it: a run that uses exactly its budget
succeeds. ``podium.engine.guard`` enforces them.

In YAML::

    budget: {max_tokens: 200000, max_cost: 1.50, max_wall_time: 600, max_tasks: 40}
    agents:
      writer: {budget: {max_model_calls: 20}}
    tasks:
      - {id: draft, agent: writer, budget: {max_tokens: 8000, max_wall_time: 2m}}
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from podium.policy import Duration

__all__ = ["Budget"]


class Budget(BaseModel):
    """Limits on tokens, cost, model calls, wall time and tasks; ``None`` means no limit."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    max_tokens: int | None = Field(default=None, ge=0)
    """Input plus output tokens of every model call in scope."""
    max_cost: float | None = Field(default=None, ge=0)
    """US dollars of every model call in scope, as the models price them."""
    max_model_calls: int | None = Field(default=None, ge=0)
    """Completed model calls in scope (a repair or a tool-using turn is a call)."""
    max_wall_time: Duration | None = Field(default=None, gt=timedelta(0))
    """Time in scope while the run executes (``90``, ``5m``, ``1h30m`` or ISO 8601 in YAML).

    Run: from its start, across resumes, not counting the time it was stopped or waiting.
    Agent: the time its task attempts ran, added up (two at once count twice). Task: the
    time its attempts ran (retry backoff not included)."""
    max_tasks: int | None = Field(default=None, ge=0)
    """Agent task instances started (a loop iteration or a map item is one; a retry is not):
    a workflow's budget only."""

    def tighten(self, other: Budget | None) -> Budget:
        """The budget that keeps both this one's limits and ``other``'s (the lower of each)."""
        if other is None:
            return self
        limits: dict[str, object] = {}
        for name in type(self).model_fields:
            mine, theirs = getattr(self, name), getattr(other, name)
            limits[name] = theirs if mine is None else mine if theirs is None else min(mine, theirs)
        return Budget.model_validate(limits)
