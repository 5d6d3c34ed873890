"""RetryPolicy: how often a failed attempt is tried again, and how long to wait between.

Policy is data; the error says whether it is retryable (``TaskError.retryable``) and may say how
long the failing party asked us to wait (``retry_after``, e.g. an HTTP ``Retry-After``), which
wins over the computed backoff. Waits use the injected clock, so tests advance a
``ManualClock`` instead of sleeping.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from podium.errors import TaskError

__all__ = ["DEFAULT_RETRY", "RetryPolicy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff with full jitter, for retryable errors only.

    Attributes:
        max_attempts: attempts in all, the first included (1 means no retry).
        initial_backoff: the wait before the second attempt, before jitter.
        multiplier: how much each further wait grows.
        max_backoff: the longest wait.
        jitter: whether to draw each wait uniformly from [backoff / 2, backoff], so that many
            clients failing together do not retry together.
    """

    max_attempts: int = 3
    initial_backoff: timedelta = timedelta(seconds=1)
    multiplier: float = 2.0
    max_backoff: timedelta = timedelta(seconds=30)
    jitter: bool = True

    def delay(self, error: TaskError, attempt: int, rng: random.Random) -> timedelta | None:
        """How long to wait before attempt ``attempt + 1``, or None if it should not happen."""
        if not error.retryable or attempt >= self.max_attempts:
            return None
        if error.retry_after is not None:
            return min(error.retry_after, self.max_backoff)
        backoff = self.initial_backoff * (self.multiplier ** (attempt - 1))
        backoff = min(backoff, self.max_backoff)
        if self.jitter:
            backoff = backoff * rng.uniform(0.5, 1.0)
        return backoff


DEFAULT_RETRY = RetryPolicy()
"""Three attempts, waiting about 1 s and then 2 s, for retryable failures."""
