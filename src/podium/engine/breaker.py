"""Circuit breakers: stop waiting on a model endpoint or an agent that keeps failing.

```
closed --failure_threshold consecutive failures--> open --reset_timeout--> half_open
half_open --the probe succeeds--> closed        half_open --the probe fails--> open
```

An open circuit refuses calls: the task goes straight to its fallbacks (or fails fast with a
``CircuitOpenError`` saying when the circuit half-opens). Once ``reset_timeout`` has passed,
the next call half-opens it and goes through as the one probe; other calls are refused until
the probe's outcome closes or reopens the circuit.

Only failures that say the dependency is unhealthy count: against ``model:NAME``, model
errors of kind ``rate_limit``, ``timeout`` or ``server``; against ``agent:NAME``, tool
timeouts and attempts that ran out of time. Bad requests, invalid output and other failures
neither count nor reset the count; a success resets it.

The circuits belong to one run (``Circuits``), shared by all its tasks, and every state change
is a ``circuit_changed`` event in the run's log. A ``LocalEngine`` reused for several runs
does not carry them over, and a resumed run starts with closed circuits: that way a run's
own log explains every reroute it made. All timing is on the injected clock.

``CircuitGuarded`` is the attempt wrapper that puts a call through a target's breakers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Literal

from podium.clock import Clock
from podium.engine.attempt import AgentAnswer, AgentCall, Attempt
from podium.engine.recorder import Recorder
from podium.errors import CircuitOpenError, ModelError, TaskError
from podium.event import CircuitChanged
from podium.policy import CircuitPolicy, failure_kind

__all__ = [
    "CircuitBreaker",
    "CircuitChange",
    "CircuitGuarded",
    "CircuitState",
    "Circuits",
    "is_unhealthy",
    "record",
    "refusal",
]


CircuitState = Literal["closed", "open", "half_open"]

_UNHEALTHY_MODEL_KINDS = frozenset({"rate_limit", "timeout", "server"})


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitChange:
    """A circuit moved to ``state``, for ``reason``."""

    target: str
    state: CircuitState
    reason: str


class CircuitBreaker:
    """The circuit of one target (``model:NAME`` or ``agent:NAME``).

    Args:
        target: what the circuit protects, as events name it.
        policy: when it opens and when it half-opens.
        clock: the time source (``ManualClock`` in tests).
        on_change: called with every state change.
    """

    def __init__(
        self,
        target: str,
        policy: CircuitPolicy,
        clock: Clock,
        *,
        on_change: Callable[[CircuitChange], None] | None = None,
    ) -> None:
        self.target = target
        self.policy = policy
        self.clock = clock
        self.state: CircuitState = "closed"
        self.failures = 0
        """Consecutive failures counted since the last success."""
        self._on_change = on_change
        self._opened_at = 0.0
        self._is_probing = False

    def is_allowed(self) -> bool:
        """Whether a call may go through now; an open circuit past its reset timeout half-opens.

        In half-open only one call (the probe) may go through: take it with ``acquire``.
        """
        if self.state == "open" and self.half_opens_in() <= timedelta(0):
            reset = self.policy.reset_timeout.total_seconds()
            self._change("half_open", f"{reset:g}s since it opened: one probe goes through")
        return self.state == "closed" or (self.state == "half_open" and not self._is_probing)

    def acquire(self) -> None:
        """Take the call ``is_allowed`` offered: in half-open, the single probe."""
        if self.state == "half_open":
            self._is_probing = True

    def allow(self) -> bool:
        """``is_allowed`` and, if so, ``acquire``."""
        if not self.is_allowed():
            return False
        self.acquire()
        return True

    def record_success(self) -> None:
        """A call succeeded: the target is healthy."""
        self.failures, self._is_probing = 0, False
        if self.state != "closed":
            was = "the probe" if self.state == "half_open" else "a call"
            self._change("closed", f"{was} succeeded")

    def record_failure(self, error: Exception | None = None) -> None:
        """A call failed in a way that says the target is unhealthy."""
        self.failures += 1
        last = f": {type(error).__name__}: {error}" if error is not None else ""
        if self.state == "half_open" and self._is_probing:
            self._is_probing = False
            self._open(f"the probe failed{last}")
        elif self.state == "closed" and self.failures >= self.policy.failure_threshold:
            self._open(f"{self.failures} consecutive failures, the last{last}")

    def release(self) -> None:
        """A call ended saying nothing about health: a half-open circuit may probe again."""
        self._is_probing = False

    def half_opens_in(self) -> timedelta:
        """How long until an open circuit lets a probe through (zero or less: it may now)."""
        elapsed = timedelta(seconds=self.clock.monotonic() - self._opened_at)
        return self.policy.reset_timeout - elapsed

    def _open(self, reason: str) -> None:
        self._opened_at = self.clock.monotonic()
        self._change("open", reason)

    def _change(self, state: CircuitState, reason: str) -> None:
        self.state = state
        if self._on_change is not None:
            self._on_change(CircuitChange(target=self.target, state=state, reason=reason))


class Circuits:
    """The circuit breakers of one run, by target; their changes go to the run's log."""

    def __init__(self, recorder: Recorder, clock: Clock) -> None:
        self._recorder = recorder
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, target: str, policy: CircuitPolicy) -> CircuitBreaker:
        """The breaker of ``target``, made with ``policy`` on first use."""
        breaker = self._breakers.get(target)
        if breaker is None:
            breaker = CircuitBreaker(target, policy, self._clock, on_change=self._changed)
            self._breakers[target] = breaker
        return breaker

    def _changed(self, change: CircuitChange) -> None:
        # Noted, not awaited: it is committed with the attempt's next event, and a resumed run
        # starts with closed circuits anyway.
        self._recorder.note(
            partial(CircuitChanged, target=change.target, state=change.state, reason=change.reason)
        )


class CircuitGuarded:
    """Attempt wrapper: a call goes through only if every breaker of its target lets it.

    A refused call is not made: its ``CircuitOpenError`` is the answer. The outcome of a call
    made is recorded in the breakers (``record``); a call that ends by raising (cancelled,
    waiting for an approval) says nothing about health: a probe it held is released.
    """

    def __init__(self, inner: Attempt, breakers: tuple[CircuitBreaker, ...]) -> None:
        self._inner = inner
        self._breakers = breakers

    async def __call__(self, call: AgentCall) -> AgentAnswer | Exception:
        """Attempt ``call`` unless a breaker refuses it."""
        breakers = self._breakers
        refused = refusal(breakers, call.task_id)
        if refused is not None:
            refused.attempt = call.attempt
            return refused
        try:
            result = await self._inner(call)
        except BaseException:
            for breaker in breakers:
                breaker.release()
            raise
        record(breakers, result)
        return result


def refusal(breakers: Sequence[CircuitBreaker], task_id: str) -> CircuitOpenError | None:
    """Let a call through all of ``breakers`` (taking any probe), or say which one refuses."""
    for breaker in breakers:
        if not breaker.is_allowed():
            return _refused(breaker, task_id)
    for breaker in breakers:
        breaker.acquire()
    return None


def record(breakers: Sequence[CircuitBreaker], result: object) -> None:
    """Tell each breaker how a call through it ended (``result``: an answer or the error)."""
    for breaker in breakers:
        if not isinstance(result, Exception):
            breaker.record_success()
        elif is_unhealthy(breaker.target, result):
            breaker.record_failure(result)
        else:
            breaker.release()


def is_unhealthy(target: str, error: Exception) -> bool:
    """Whether ``error`` says that ``target`` (``model:NAME`` or ``agent:NAME``) is unhealthy."""
    if isinstance(error, ModelError):
        return target.startswith("model:") and error.kind in _UNHEALTHY_MODEL_KINDS
    is_timeout = isinstance(error, TaskError) and failure_kind(error) == "timeout"
    return target.startswith("agent:") and is_timeout


def _refused(breaker: CircuitBreaker, task_id: str) -> CircuitOpenError:
    if breaker.state == "half_open":
        msg = f"circuit {breaker.target} is half-open and its probe call has not ended yet"
        return CircuitOpenError(msg, target=breaker.target, task_id=task_id)
    wait = max(breaker.half_opens_in(), timedelta(0))
    at = breaker.clock.now() + wait
    msg = (
        f"circuit {breaker.target} is open after {breaker.failures} consecutive failures; "
        f"it half-opens in {wait.total_seconds():g}s (at {at.isoformat(timespec='seconds')})"
    )
    return CircuitOpenError(msg, target=breaker.target, task_id=task_id, retry_after=wait)
