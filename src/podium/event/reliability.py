"""Events of choosing and falling back: agent routing, reroutes, circuits, budgets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from podium.frozen import fast_init
from podium.ids import RunId, TaskId

__all__ = ["AgentChosen", "BudgetExceeded", "CircuitChanged", "TaskRerouted"]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AgentChosen:
    """The router picked an agent for a task that names a capability, and why."""

    kind: Literal["agent_chosen"] = "agent_chosen"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    capability: str
    agent: str
    reason: str
    scores: dict[str, float] = field(default_factory=dict)
    """Each candidate agent's score when the choice was made."""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRerouted:
    """A task's agent (or model) kept failing or its circuit was open: a fallback takes over."""

    kind: Literal["task_rerouted"] = "task_rerouted"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    from_target: str
    """``agent:NAME`` or ``model:NAME`` that is given up on."""
    to_target: str
    reason: str


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitChanged:
    """A circuit breaker changed state: open (calls go straight to fallbacks), half-open
    (one probe is let through) or closed (healthy again)."""

    kind: Literal["circuit_changed"] = "circuit_changed"
    seq: int
    run_id: RunId
    at: datetime
    target: str
    """``model:NAME`` or ``agent:NAME``."""
    state: Literal["closed", "open", "half_open"]
    reason: str


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetExceeded:
    """A budget (run, agent or task: tokens, cost, model calls, wall time) ran out, or a
    runaway loop was detected: the run stops cleanly with what it has."""

    kind: Literal["budget_exceeded"] = "budget_exceeded"
    seq: int
    run_id: RunId
    at: datetime
    scope: str
    """``run``, ``agent:NAME`` or ``task:ID``."""
    limit: str
    """``tokens``, ``cost``, ``model_calls``, ``wall_time`` or ``loop``."""
    used: float
    allowed: float
    reason: str
