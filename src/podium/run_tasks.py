"""How the events about one task fold into a run's state (``podium.run``).

``RunState.apply`` folds run-level events itself and hands the others here: a task's start,
end, calls and context writes (a ``task_succeeded`` may record its output's), and the
concurrency limits that held its start back (``Throttle``); decisions (approvals, plans,
claims) go on to ``podium.run_decisions``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from podium.event import (
    ContextWritten,
    ModelCalled,
    SignalAwaited,
    TaskCancelled,
    TaskFailed,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
    ToolCalled,
    recorded_write,
)
from podium.run_decisions import DecisionEvent, apply_decision

if TYPE_CHECKING:
    from podium.run import RunState

__all__ = ["EVERY_TASK", "TaskEvent", "Throttle", "apply_task_event"]


@dataclass(slots=True, kw_only=True)
class Throttle:
    """A concurrency limit that held attempts back, folded from their ``task_started``."""

    limit: str
    """``max_concurrency 16``, or ``agent writer's max_concurrency 2``."""
    waits: int = 0
    """Attempts that waited on it."""
    longest_s: float = 0.0
    """The longest any of them waited, in seconds."""

    def describe(self) -> str:
        """``max_concurrency 16 held back 84 task starts, up to 0.70 s``."""
        starts = "task start" if self.waits == 1 else "task starts"
        return f"{self.limit} held back {self.waits} {starts}, up to {self.longest_s:.2f} s"


TaskEvent = (
    TaskStarted
    | TaskSucceeded
    | TaskFailed
    | TaskSkipped
    | TaskCancelled
    | SignalAwaited
    | ModelCalled
    | ToolCalled
    | ContextWritten
)
"""The events about one task that are not decisions (approvals, plans, claims)."""


def apply_task_event(state: RunState, e: TaskEvent | DecisionEvent) -> None:
    """Fold an event about one task into ``state``; a decision goes on to ``apply_decision``."""
    match e:
        case TaskStarted():
            _task_started(state, e)
        case TaskSucceeded():
            _task_succeeded(state, e)
        case TaskFailed():
            _task_failed(state, e)
        case TaskSkipped():
            _task_skipped(state, e)
        case TaskCancelled():
            _task_cancelled(state, e)
        case SignalAwaited():
            _signal_awaited(state, e)
        case ModelCalled():
            _model_called(state, e)
        case ToolCalled():
            _tool_called(state, e)
        case ContextWritten():
            _context_written(state, e)
        case _:
            apply_decision(state, e)


def _task_started(state: RunState, e: TaskStarted) -> None:
    task = state.task(e.task_id)
    task.status, task.agent, task.attempts = "running", e.agent, e.attempt
    task.iteration, task.started_at, task.ended_at, task.error = e.iteration, e.at, None, None
    if e.limit is not None:
        throttle = state.throttles.get(e.limit) or Throttle(limit=e.limit)
        throttle.waits += 1
        throttle.longest_s = max(throttle.longest_s, e.waited_s)
        state.throttles[e.limit] = throttle


def _task_succeeded(state: RunState, e: TaskSucceeded) -> None:
    task = state.task(e.task_id)
    task.status, task.output, task.ended_at, task.error = "succeeded", e.output, e.at, None
    written = recorded_write(e)
    if written is not None:
        state.writes.append(written)


def _task_failed(state: RunState, e: TaskFailed) -> None:
    task = state.task(e.task_id)
    task.status, task.ended_at = "failed", e.at
    task.error = f"{e.error_type}: {e.message}"


def _task_skipped(state: RunState, e: TaskSkipped) -> None:
    task = state.task(e.task_id)
    task.status, task.error, task.ended_at = "skipped", e.reason, e.at


def _signal_awaited(state: RunState, e: SignalAwaited) -> None:
    state.task(e.task_id).status = "waiting"
    first = state.signal_waits.get(e.task_id)
    if first is None or first.iteration != e.iteration:
        state.signal_waits[e.task_id] = e
    state.notes.append(f"{e.task_id}: waiting for signal {e.name!r}")


def _task_cancelled(state: RunState, e: TaskCancelled) -> None:
    task = state.task(e.task_id)
    status = "interrupted" if e.is_interrupted else "cancelled"
    task.status, task.error, task.ended_at = status, e.reason, e.at


def _model_called(state: RunState, e: ModelCalled) -> None:
    state.calls.append(e)
    task = state.task(e.task_id)
    task.model_calls += 1
    task.input_tokens += e.input_tokens
    task.output_tokens += e.output_tokens
    task.cost += e.cost


def _tool_called(state: RunState, e: ToolCalled) -> None:
    state.calls.append(e)
    state.task(e.task_id).tool_calls += 1


def _context_written(state: RunState, e: ContextWritten) -> None:
    state.writes.append(e)


EVERY_TASK: dict[type[object], Callable[[RunState, Any], None]] = {  # Any: the key's type
    TaskStarted: _task_started,
    ModelCalled: _model_called,
    TaskSucceeded: _task_succeeded,
}
"""How the events every agent task records fold in: looked up by type, before the ``match``
of ``RunState.apply`` checks an event's class against each kind in turn."""
