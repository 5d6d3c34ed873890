"""The wait node: a task that waits for a named signal sent from outside the run.

A signal is an event in the run's log (``signal_received``), appended by ``podium signal``,
``podium.signal`` or the server's ``POST /v1/runs/{id}/signals/{name}`` while the run is not
executing; the sender then resumes it. A ``wait:`` task takes the first signal of its name
(in iteration k of a loop, the k-th) whenever it was sent, before or after the task began to
wait (a persistent trigger), and its output is the signal's data. With none yet, it records
``signal_awaited`` and waits as an approval does: its dependents hold, and once nothing else
can run the run ends ``waiting``.

Its timeout (the deadline the first ``signal_awaited`` of the task instance set) applies on
time: while other tasks of its level still run, the scheduler runs the wait again at the
deadline (``Outcome.wake_at``); for a run that stopped ``waiting``, the server's
``DeadlineTimer`` resumes it then; and any resume after the deadline applies it.

On an engine whose runs stay alive while they wait (Temporal, ``engine.waiter``), the task
waits for its signal durably instead, until its deadline, and the run goes on; the signal
is recorded in the log by the run itself when it arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial

from pydantic import JsonValue

from podium.clock import Clock, SystemClock
from podium.engine.frame import Frame
from podium.engine.host import NodeHost
from podium.engine.outcome import Outcome
from podium.errors import RunStateError, TaskError
from podium.event import Event, SignalAwaited, SignalReceived, TaskSkipped
from podium.ids import RunId, TaskId
from podium.liveness import read_stopped_run
from podium.stores.base import Store
from podium.task import Task

__all__ = ["record_signal", "run_wait"]


async def run_wait(run: NodeHost, task: Task, frame: Frame, qid: TaskId) -> Outcome:
    """Take the task's signal if it was sent; else record that the task waits for it.

    Returns:
        The signal's data; the timeout's outcome after the deadline; else ``waiting``, to be
        woken at the deadline if there is one (on an engine with a waiter, whichever of the
        signal and the deadline comes first).
    """
    spec = task.wait
    assert spec is not None
    events = run.recorder.events
    received = _received(events, spec.signal, max(frame.iteration, 1))
    if received is not None:
        outcome = Outcome(status="succeeded", output=received.data)
        return await run.succeed(task, frame, qid, outcome, writer=None)
    first = next(
        (
            e
            for e in events
            if isinstance(e, SignalAwaited) and (e.task_id, e.iteration) == (qid, frame.iteration)
        ),
        None,
    )
    now = run.clock.now()
    if first is not None:
        deadline = first.deadline
    else:  # a zero timeout takes a signal already sent, else times out at once
        deadline = None if spec.timeout is None else now + spec.timeout
    if deadline is not None and now >= deadline:
        return await _timed_out(run, task, frame, qid)
    awaited = partial(
        SignalAwaited, task_id=qid, name=spec.signal, deadline=deadline, iteration=frame.iteration
    )
    await run.recorder.emit(awaited)
    if run.waiter is None:
        reason = f"task {qid!r} waits for signal {spec.signal!r}"
        return Outcome(status="waiting", reason=reason, wake_at=deadline)
    return await _wait_durably(run, task, frame, qid, deadline=deadline)


async def _wait_durably(
    run: NodeHost, task: Task, frame: Frame, qid: TaskId, *, deadline: datetime | None
) -> Outcome:
    """Wait on the run's waiter until the signal is in the log or the deadline passed."""
    spec, waiter = task.wait, run.waiter
    assert spec is not None
    assert waiter is not None
    nth = max(frame.iteration, 1)
    await waiter.wait_until(
        lambda: _received(run.recorder.events, spec.signal, nth) is not None, deadline
    )
    received = _received(run.recorder.events, spec.signal, nth)
    if received is None:
        return await _timed_out(run, task, frame, qid)
    outcome = Outcome(status="succeeded", output=received.data)
    return await run.succeed(task, frame, qid, outcome, writer=None)


def _received(events: Sequence[Event], name: str, nth: int) -> SignalReceived | None:
    """The ``nth`` signal called ``name`` in the log, if it came."""
    signals = [e for e in events if isinstance(e, SignalReceived) and e.name == name]
    return signals[nth - 1] if len(signals) >= nth else None


async def _timed_out(run: NodeHost, task: Task, frame: Frame, qid: TaskId) -> Outcome:
    spec = task.wait
    assert spec is not None
    reason = f"no signal {spec.signal!r} before its timeout ({spec.timeout})"
    if spec.on_timeout == "fail":
        return await run.fail(qid, None, TaskError(reason, task_id=qid), frame)
    if spec.on_timeout == "skip":
        skipped = partial(TaskSkipped, task_id=qid, reason=reason, iteration=frame.iteration)
        await run.recorder.emit(skipped)
        return Outcome(status="skipped", reason=reason)
    return await run.succeed(task, frame, qid, Outcome(status="succeeded"), writer=None)


async def record_signal(
    store: Store,
    run_id: RunId,
    name: str,
    *,
    data: JsonValue = None,
    by: str = "",
    clock: Clock | None = None,
) -> SignalReceived:
    """Append a signal to a run's log; resume the run afterwards to act on it.

    Raises:
        RunNotFoundError: no such run.
        RunStateError: the run succeeded (nothing waits any more), or a live process is
            executing it.
    """
    events, state = await read_stopped_run(store, run_id, doing="send it a signal")
    if state.status == "succeeded":
        msg = f"run {run_id} already succeeded: no task of it waits for signal {name!r}"
        raise RunStateError(msg)
    event = SignalReceived(
        seq=events[-1].seq + 1,
        run_id=run_id,
        at=(clock or SystemClock()).now(),
        name=name,
        data=data,
        by=by,
    )
    await store.append(run_id, [event])
    return event
