"""Attempt wrappers, and the one place where they are composed around the innermost call.

Each wrapper implements ``Attempt`` (``podium.engine.attempt``) and holds the ``Attempt`` it
wraps plus only what it needs: the retry policy and the clock, a deadline, the concurrency
limits, a target's circuit breakers, the fallback targets, the run's approvals. They live
beside what they guard: ``Retrying``, ``TimeLimited``, ``Slotted`` and ``Calling`` here,
``CircuitGuarded`` in ``breaker``, ``Fallbacks`` in ``fallback``, ``ApprovalGate`` and
``ToolApprovals`` in ``approval``. ``compose_attempt`` builds the chain of one agent task;
a wrapper that nothing configures is left out of it, so it costs nothing.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial

from jinja2 import TemplateError

from podium.agent import Agent
from podium.clock import Clock
from podium.engine.approval import (
    ApprovalGate,
    Approvals,
    ToolApprovals,
    approval_of,
    needs_approval,
)
from podium.engine.attempt import AgentAnswer, AgentCall, Attempt, Caller
from podium.engine.breaker import CircuitBreaker, CircuitGuarded
from podium.engine.deadline import DeadlineQueue, deadlines
from podium.engine.failure import failed_event
from podium.engine.fallback import Fallbacks, Target
from podium.engine.limits import Limits
from podium.engine.recorder import Recorder
from podium.errors import CircuitOpenError, TaskError
from podium.event import TaskRetried, TaskStarted
from podium.policy import RetryPolicy
from podium.task import Task

__all__ = [
    "AttemptParts",
    "Calling",
    "Retrying",
    "Slotted",
    "TimeLimited",
    "compose_attempt",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptParts:
    """What one run's attempt wrappers are made of; each wrapper takes only its share."""

    caller: Caller
    """The innermost call (``LocalEngine(caller=...)``)."""
    recorder: Recorder
    clock: Clock
    rng: random.Random
    """Draws retry jitter, reproducibly per run."""
    limits: Limits
    approvals: Approvals
    chains: dict[tuple[int, tuple[asyncio.Semaphore, ...]], tuple[Target, Attempt]] = field(
        default_factory=dict[tuple[int, tuple[asyncio.Semaphore, ...]], tuple[Target, Attempt]]
    )
    """Each target's chain, by the target and the slots it holds: wrappers keep no state of
    a call, so tasks alike share one chain instead of building four objects each."""


def compose_attempt(
    task: Task,
    targets: Sequence[Target],
    parts: AttemptParts,
    *,
    slots: tuple[asyncio.Semaphore, ...] = (),
    move: Callable[[AgentCall, Agent], AgentCall] | None = None,
) -> Attempt:
    """The attempt chain of one agent task, outermost first::

        ApprovalGate            the task's output waits for a human    if approval is set
        └─ Fallbacks            the next target when one gives up      if it has fallbacks
           └─ for each target (its agent, then each fallback):
              ToolApprovals     tools that need approval ask first     if it has such tools
              └─ Retrying       backoff, task_failed + task_retried    if max_attempts > 1
                 └─ Slotted     sub-workflows' and the run's slots     if a limit applies
                    └─ CircuitGuarded   the model's and agent's breakers
                       └─ TimeLimited   the attempt's deadline
                          └─ Calling    task_started, then ``parts.caller``

    Args:
        task: the task attempted.
        targets: where the task runs, in the order tried (``Targets.of``); the first is the
            task's own agent.
        parts: the run's share of every wrapper.
        slots: the concurrency limits of the sub-workflows the task is inside.
        move: for fallbacks, ``call`` made by another agent.
    """
    chains = [(target, _shared_chain(target, parts, slots)) for target in targets]
    attempt = chains[0][1]
    if len(chains) > 1:
        assert move is not None
        attempt = Fallbacks(chains, recorder=parts.recorder, move=move)
    if any(approval_of(task, target.agent) is not None for target, _ in chains):
        attempt = ApprovalGate(attempt, parts.approvals)
    return attempt


def _shared_chain(
    target: Target, parts: AttemptParts, slots: tuple[asyncio.Semaphore, ...]
) -> Attempt:
    """The chain of ``target`` holding ``slots``, built on its first use in the run."""
    key = (id(target), slots)
    cached = parts.chains.get(key)
    if cached is not None and cached[0] is target:  # the same target, not one at its address
        return cached[1]
    chain = _target_chain(target, parts, slots)
    parts.chains[key] = (target, chain)
    return chain


def _target_chain(
    target: Target, parts: AttemptParts, slots: tuple[asyncio.Semaphore, ...]
) -> Attempt:
    attempt: Attempt = Calling(parts.caller, parts.recorder, parts.clock)
    attempt = TimeLimited(attempt, target.timeout)
    attempt = CircuitGuarded(attempt, target.circuits)
    if slots or parts.limits.is_limited(target.agent):
        attempt = Slotted(attempt, parts.limits, slots)
    if target.retry.max_attempts > 1:
        attempt = Retrying(attempt, target.retry, parts=parts, circuits=target.circuits)
    if needs_approval(target.agent):
        attempt = ToolApprovals(attempt, parts.approvals)
    return attempt


class Calling:
    """The innermost wrapper: records ``task_started``, then calls the caller.

    A ``TaskError`` (or a template error) the caller raises is returned, numbered with the
    attempt.
    """

    __slots__ = ("_caller", "_clock", "_recorder")

    def __init__(self, caller: Caller, recorder: Recorder, clock: Clock) -> None:
        self._caller = caller
        self._recorder = recorder
        self._clock = clock

    async def __call__(self, call: AgentCall) -> AgentAnswer | Exception:
        """Note that the attempt starts and make it."""
        waited = call.waited
        self._recorder.note(
            partial(
                TaskStarted,
                task_id=call.task_id,
                agent=call.agent.name,
                attempt=call.attempt,
                iteration=call.iteration,
                waited_s=waited.seconds if waited else 0.0,
                limit=waited.limit if waited else None,
            )
        )
        try:
            return await self._caller(call, self._recorder, self._clock)
        except TaskError as exc:
            exc.attempt = call.attempt
            return exc
        except TemplateError as exc:
            return exc


class TimeLimited:
    """An attempt that runs past its deadline fails with a retryable ``TaskError``.

    The attempts of one timeout share a loop timer (``engine.deadline``), not one each.
    """

    __slots__ = ("_inner", "_loop", "_queue", "_timeout")

    def __init__(self, inner: Attempt, timeout: timedelta) -> None:
        self._inner = inner
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: DeadlineQueue | None = None
        """The deadlines of ``_loop``, the loop of the last attempt (a run's only loop)."""

    async def __call__(self, call: AgentCall) -> AgentAnswer | Exception:
        """Attempt ``call`` within the deadline."""
        loop = asyncio.get_running_loop()
        queue = self._queue
        if queue is None or loop is not self._loop:
            self._loop, queue = loop, deadlines(loop, self._timeout.total_seconds())
            self._queue = queue
        try:
            async with asyncio.timeout(None) as timeout:  # its deadline is the queue's
                entry = queue.add(loop, timeout)
                try:
                    return await self._inner(call)
                finally:
                    queue.remove(entry)
        except TimeoutError as exc:
            msg = f"timed out after {self._timeout}"
            error = TaskError(msg, task_id=call.task_id, retryable=True, attempt=call.attempt)
            error.__cause__ = exc  # what marks it a timeout (``policy.failure_kind``)
            return error


class Slotted:
    """An attempt holds a slot of each limit that applies to it while it runs.

    The sub-workflows' own limits are taken first, then the run's (``Limits``); how long it
    waited, and on which limit, goes into the call for ``task_started``.
    """

    __slots__ = ("_inner", "_limits", "_slots")

    def __init__(
        self, inner: Attempt, limits: Limits, slots: tuple[asyncio.Semaphore, ...]
    ) -> None:
        self._inner = inner
        self._limits = limits
        self._slots = slots

    async def __call__(self, call: AgentCall) -> AgentAnswer | Exception:
        """Attempt ``call`` once every slot is held."""
        async with AsyncExitStack() as held:
            for limit in self._slots:
                await held.enter_async_context(limit)
            wait = await held.enter_async_context(self._limits.slot(call.agent))
            return await self._inner(call if wait is None else replace(call, waited=wait))


class Retrying:
    """Failed attempts are tried again as the target's retry policy says.

    A call its circuits refused is not retried, nor is a failure after which a circuit
    opened (no retry waits on a dead dependency). An attempt that will be retried is recorded
    (``task_failed`` then ``task_retried``) before the wait; the last failure is returned.
    """

    __slots__ = ("_circuits", "_clock", "_inner", "_policy", "_recorder", "_rng")

    def __init__(
        self,
        inner: Attempt,
        policy: RetryPolicy,
        *,
        parts: AttemptParts,
        circuits: tuple[CircuitBreaker, ...],
    ) -> None:
        self._inner = inner
        self._policy = policy
        self._recorder = parts.recorder
        self._clock = parts.clock
        self._rng = parts.rng
        self._circuits = circuits

    async def __call__(self, call: AgentCall) -> AgentAnswer | Exception:
        """Attempt ``call`` until it succeeds or the policy gives up."""
        tries = 1
        while True:
            result = await self._inner(call)
            if not isinstance(result, TaskError) or isinstance(result, CircuitOpenError):
                return result
            delay = self._policy.delay(result, tries, self._rng)
            if delay is None or any(c.state == "open" for c in self._circuits):
                return result
            failed = failed_event(
                call.task_id,
                call.agent.name,
                result,
                iteration=call.iteration,
                attempt=call.attempt,
            )
            retried = partial(
                TaskRetried,
                task_id=call.task_id,
                attempt=call.attempt,
                delay_s=delay.total_seconds(),
            )
            await self._recorder.emit_all([failed, retried])
            await self._clock.sleep(delay)
            call = replace(call, attempt=call.attempt + 1)
            tries += 1
