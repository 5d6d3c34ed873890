"""Events of human approval: a task's output awaits a decision, then gets one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import JsonValue

from podium.frozen import fast_init
from podium.ids import RunId, TaskId

__all__ = ["ApprovalDenied", "ApprovalGranted", "ApprovalRequested"]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequested:
    """A task needs a human decision before its output counts; the run waits for it."""

    kind: Literal["approval_requested"] = "approval_requested"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    agent: str | None
    output: JsonValue = None
    """What the task proposes (the answer to approve, deny or edit)."""
    reason: str = ""
    iteration: int = 0
    deadline: datetime | None = None
    """When the configured default decision applies, if there is a timeout."""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalGranted:
    """A human (or the timeout default) approved a task's output, possibly edited."""

    kind: Literal["approval_granted"] = "approval_granted"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    by: str
    comment: str = ""
    is_edited: bool = False
    output: JsonValue = None
    """The edited output when ``is_edited``."""
    iteration: int = 0


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalDenied:
    """A human (or the timeout default) denied a task's output; it is routed like a failure."""

    kind: Literal["approval_denied"] = "approval_denied"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    by: str
    reason: str
    iteration: int = 0
