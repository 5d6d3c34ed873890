"""The seam of an engine whose runs stay alive while they wait for a person or a signal.

A run on the local engine that reaches an approval request or a ``wait:`` task records the
request and ends ``waiting``; the decision (or the signal) is appended to its log later, and
``podium resume`` acts on it. An engine whose runs are durable (Temporal: a workflow waits for
hours on a timer or an update at no cost) passes a ``Waiter`` instead: the run records the
request, then waits on the waiter until the answer is in its log or the request's deadline
has passed, and goes on. The answer is recorded by the run's own recorder (the log's one
writer), so it is in the log once, whoever sent it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from podium.engine.recorder import Recorder

__all__ = ["Waiter"]


class Waiter(Protocol):
    """Durable waits of one run."""

    def watch(self, recorder: Recorder) -> None:
        """Take the run's recorder, once it exists: answers sent from outside are recorded
        through it (and checked against its state: is that task waiting?)."""
        ...

    async def wait_until(self, condition: Callable[[], bool], deadline: datetime | None) -> bool:
        """Wait until ``condition()`` holds (True) or ``deadline`` passes first (False).

        ``condition`` reads the run's recorded state; it turns true when the answer was
        recorded. No deadline waits as long as it takes (cancelling the run ends the wait).
        """
        ...
