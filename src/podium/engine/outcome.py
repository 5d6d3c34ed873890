"""Outcome: how one task ended, as the scheduler and the node kinds pass it around."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import JsonValue

from podium.frozen import fast_init
from podium.ids import TaskId

__all__ = ["Outcome"]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """How a task ended. Failures are values; only bugs are exceptions."""

    status: Literal["succeeded", "failed", "skipped", "waiting", "cancelled"]
    """``cancelled``: the workflow withdrew it (``engine.region``); not a failure."""
    output: JsonValue = None
    reason: str | None = None
    """Why it failed, was skipped or was cancelled."""
    chosen: TaskId | None = None
    """For a router: the route it chose."""
    wake_at: datetime | None = None
    """For a waiting task: when to run it again (a signal wait's timeout), should other
    tasks of its level still be running then."""

    @property
    def ok(self) -> bool:
        """Whether the task succeeded."""
        return self.status == "succeeded"
