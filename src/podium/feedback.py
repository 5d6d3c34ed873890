"""Feedback: a person rates a run, or one task of it, from 1 to 5.

The rating is a ``feedback_recorded`` event appended to the run's log (like an approval
decision), so ``podium show`` lists it and ``podium metrics`` averages it into satisfaction.
"""

from __future__ import annotations

from typing import Final

from podium.clock import Clock, SystemClock
from podium.errors import ConfigError
from podium.event import FeedbackRecorded
from podium.ids import RunId, TaskId
from podium.liveness import read_stopped_run
from podium.stores.base import Store

__all__ = ["MAX_SCORE", "MIN_SCORE", "check_score", "record_feedback"]

MIN_SCORE: Final = 1
MAX_SCORE: Final = 5


def check_score(score: int) -> None:
    """Refuse a score off the scale.

    Raises:
        ConfigError: ``score`` is not 1 to 5.
    """
    if not MIN_SCORE <= score <= MAX_SCORE:
        msg = f"score {score} is out of range: give a score from {MIN_SCORE} to {MAX_SCORE}"
        raise ConfigError(msg)


async def record_feedback(
    store: Store,
    run_id: RunId,
    score: int,
    *,
    task_id: TaskId | None = None,
    comment: str = "",
    by: str = "",
    clock: Clock | None = None,
) -> FeedbackRecorded:
    """Append a rating of ``run_id`` (or of its task ``task_id``) to the run's log.

    Args:
        store: where the run is recorded.
        run_id: the run rated.
        score: 1 (bad) to 5 (excellent).
        task_id: the task rated, if the rating is about one task rather than the whole run.
        comment: why, in the rater's words.
        by: who rates.
        clock: the time source (default: the system clock).

    Returns:
        The event appended.

    Raises:
        ConfigError: the score is not 1 to 5, or there is no such run or task.
    """
    check_score(score)
    events, state = await read_stopped_run(store, run_id, doing="rate it")
    if task_id is not None:
        tasks = state.tasks
        if task_id not in tasks:
            known = ", ".join(tasks) or "none"
            raise ConfigError(f"run {run_id} has no task {task_id!r} (its tasks: {known})")
    event = FeedbackRecorded(
        seq=events[-1].seq + 1,
        run_id=run_id,
        at=(clock or SystemClock()).now(),
        score=score,
        task_id=task_id,
        comment=comment,
        by=by,
    )
    await store.append(run_id, [event])
    return event
