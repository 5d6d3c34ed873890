"""How a failed attempt is recorded and described: the one ``task_failed`` event builder.

The executor (a task fails), the retry wrapper (an attempt will be retried) and the fallback
wrapper (a target gave up) record failures alike.
"""

from __future__ import annotations

from functools import partial

from podium.engine.recorder import Draft
from podium.errors import TaskError
from podium.event import TaskFailed
from podium.ids import TaskId

__all__ = ["describe", "failed_event", "message_of"]


def failed_event(
    qid: TaskId, agent: str | None, exc: Exception, *, iteration: int, attempt: int
) -> Draft[TaskFailed]:
    """The ``task_failed`` event of a failed attempt."""
    return partial(
        TaskFailed,
        task_id=qid,
        agent=agent,
        error_type=type(exc).__name__,
        message=message_of(exc),
        retryable=exc.retryable if isinstance(exc, TaskError) else False,
        attempt=attempt,
        iteration=iteration,
    )


def message_of(exc: Exception) -> str:
    """What went wrong, without the task id a ``TaskError``'s ``str`` adds."""
    return exc.message if isinstance(exc, TaskError) else str(exc)


def describe(error: Exception) -> str:
    """``ErrorType: message``, as a reroute's reason and a combined failure list it."""
    return f"{type(error).__name__}: {message_of(error)}"
