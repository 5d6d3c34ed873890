"""Recorder: appends a run's events to the store, in order, before anything acts on them.

It numbers events, stamps them with the clock, folds them into the run's state, passes them to
subscribers (the live view) and appends them durably. Every ``emit`` returns only once
its events are durable, and a task acts (calls a model, starts a dependent) only after an
``emit``; events become durable in ``seq`` order, so nothing can act on a state the log does
not hold. Events that several tasks stage in the same loop iteration share one transaction
(group commit), which is what keeps a wide fan-out close to its critical path.

Events nothing waits for (``note``: a task started) are written behind: committed in the
background ``NOTE_DELAY_S`` after the first of them, by then most likely while the tasks that
noted them wait on their models, unless a commit a task waits for takes them along first. Not
in the next commit a task waits for, which is on the critical path (the dependents of a
finished task start after it); and not at once, in the middle of a burst of starts (a layer
of a graph whose parents just finished), whose next tasks would wait for that commit. The
delay also gathers the starts of a steady stream of tasks (a fan-out under a concurrency
limit) into one commit. On Temporal, where each commit is an activity in the workflow's
history, notes wait for the next commit as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Protocol, TypeVar

from pydantic import JsonValue

from podium.agent import Agent
from podium.clock import Clock
from podium.context import Context, Provenance
from podium.event import ContextWritten, Event, TaskSucceeded
from podium.ids import RunId, TaskId
from podium.run import project
from podium.secrets import Secrets
from podium.stores.base import Store

__all__ = ["NOTE_DELAY_S", "Draft", "Recorder", "Subscriber"]

logger = logging.getLogger(__name__)

NOTE_DELAY_S = 0.005
"""How long a noted event (a task started) waits for a commit to take it along before it is
committed on its own: what another process (``podium show``, the server) may lag behind."""

Subscriber = Callable[[Event], None]
E_co = TypeVar("E_co", bound=Event, covariant=True)


class Draft(Protocol[E_co]):
    """An event less the stamp the recorder adds (``seq``, ``run_id``, ``at``).

    Build one with ``functools.partial`` over the event class, so the type checker checks
    every field at the call site: ``partial(TaskSkipped, task_id=qid, reason=why)``.
    """

    def __call__(self, *, seq: int, run_id: RunId, at: datetime) -> E_co:
        """The event, stamped."""
        ...


class Recorder:
    """The single writer of one run's event log."""

    def __init__(
        self,
        run_id: RunId,
        *,
        store: Store,
        clock: Clock,
        subscribers: Sequence[Subscriber] = (),
        history: Sequence[Event] = (),
        secrets: Secrets | None = None,
        notes_in_background: bool = True,
    ) -> None:
        """
        Args:
            run_id: the run whose log this is.
            store: where the log is appended.
            clock: stamps each event.
            subscribers: see each event as it is recorded (the live view, the guard).
            history: the log so far (a resumed run).
            secrets: values masked in every event.
            notes_in_background: commit noted events (``note``) on their own shortly after
                they are noted, instead of with the next event a task waits for; off where
                each commit costs more than the wait it saves (an activity on Temporal).
        """
        self.run_id = run_id
        self.secrets = secrets or Secrets()
        """Values masked in every event before anything sees it (``podium.secrets``)."""
        self.state = project(run_id, history)
        self.events: list[Event] = list(history)
        """The whole log: ``history`` (stored already, for a resumed run) and what follows."""
        self._store = store
        self._clock = clock
        self._subscribers = list(subscribers)
        self._pending: list[Event] = []
        self._durable = len(self.events)
        """Highest seq known to be in the store."""
        self._flushing: list[asyncio.Future[None]] | None = None
        """While a flush is under way: a future for each task waiting for it to end."""
        self._is_uncertain = False
        """A flush was cancelled mid-append: the store may hold more than ``_durable``."""
        self._notes_in_background = notes_in_background
        """Whether noted events are committed in the background (``note``)."""
        self._notes_due = False
        """A background flush of noted events is scheduled (``NOTE_DELAY_S`` after a note)."""
        self._background: asyncio.Task[None] | None = None
        """The background flush of noted events in progress, if any."""

    async def emit(self, draft: Draft[E_co]) -> E_co:
        """Append one event, wait until it is durable, and return it."""
        event = draft(seq=len(self.events) + 1, run_id=self.run_id, at=self._clock.now())
        self._add([event])
        await self._flush_through(event.seq)
        return event

    def note(self, draft: Draft[Event]) -> None:
        """Append an event nothing acts on (a task started) without waiting for the store.

        Subscribers see it at once. It is committed in the background ``NOTE_DELAY_S`` later,
        unless a durable event takes it along first (a task that completes at once costs one
        commit, not two). If the process dies before, the log simply does not show the task
        as started, which changes nothing: the task had not completed either.
        """
        self._stage([draft])
        if self._notes_in_background and not self._notes_due:
            self._notes_due = True
            asyncio.get_running_loop().call_later(NOTE_DELAY_S, self._flush_notes)

    async def emit_all(self, drafts: Sequence[Draft[Event]]) -> list[Event]:
        """Append several events, in order, wait until they are durable, and return them."""
        self._stage(drafts)
        await self._flush_through(len(self.events))
        return self.events[len(self.events) - len(drafts) :]

    async def write(
        self,
        context: Context,
        key: str,
        value: JsonValue,
        *,
        task_id: TaskId | None,
        writer: Agent | None,
        before: Sequence[Draft[Event]] = (),
        done: partial[TaskSucceeded] | None = None,
    ) -> None:
        """Append ``before`` and the write of ``value`` to ``key``, all durable together.

        With ``done`` (the success of ``task_id`` by ``writer``, whose output ``value`` is),
        that event records the write itself (``TaskSucceeded.key``): one event instead of a
        ``context_written`` and a ``task_succeeded``, unless the key's merge policy stores
        another value than ``value``. The write is checked against ``writer``'s scope first.

        Raises:
            ContextAccessError: the writer may not write ``key``; nothing is logged.
        """
        at = self._clock.now()
        agent = writer.name if writer else None
        provenance = Provenance(run_id=self.run_id, task_id=task_id, agent=agent, at=at)
        version = context.stage(key, value, provenance=provenance, writer=writer)
        qualified = context.namespace + key
        if done is not None and version.value is value:
            self._stage([*before, partial(done, key=qualified, version=version.version)], at)
        else:
            written = partial(
                ContextWritten,
                key=qualified,
                version=version.version,
                value=version.value,
                task_id=task_id,
                agent=agent,
            )
            self._stage([*before, written] if done is None else [*before, written, done], at)
        context.apply(version)
        await self._flush_through(len(self.events))

    def _flush_notes(self) -> None:
        """Commit what is pending in the background, unless a flush is under way already
        (which takes it along) or nothing is pending."""
        self._notes_due = False
        if self._pending and self._flushing is None and self._background is None:
            self._background = asyncio.get_running_loop().create_task(self._flush_noted())

    async def _flush_noted(self) -> None:
        try:
            await self._flush_through(len(self.events))
        except Exception:  # the events stay pending: the next emit retries and raises
            logger.debug("background flush of run %s failed", self.run_id, exc_info=True)
        finally:
            self._background = None

    def _stage(self, drafts: Sequence[Draft[Event]], at: datetime | None = None) -> None:
        """Number the events, stamped ``at`` (by default now), and fold them into the state;
        they are flushed next."""
        at = at or self._clock.now()
        first = len(self.events) + 1
        self._add(
            [draft(seq=first + i, run_id=self.run_id, at=at) for i, draft in enumerate(drafts)]
        )

    def _add(self, events: Sequence[Event]) -> None:
        """Fold stamped events into the state and pass them on; they are flushed next."""
        for event in events:
            if self.secrets:
                event = self.secrets.redact_event(event)
            self.events.append(event)
            self.state.apply(event)
            self._pending.append(event)
            for subscriber in self._subscribers:
                subscriber(event)

    async def _flush_through(self, seq: int) -> None:
        """Return once every event up to ``seq`` is in the store (group commit).

        The first waiter becomes the flusher: it yields once, so that tasks woken in the same
        loop iteration stage their events too, then appends everything pending in one
        transaction. Nothing acts on an event before this returns for it, and events are
        durable in ``seq`` order, so nothing can depend on a write the log does not hold.
        """
        while self._durable < seq:
            if self._flushing is not None:  # each waiter its own future: cancelling one
                waiter = asyncio.get_running_loop().create_future()  # cancels no other
                self._flushing.append(waiter)
                await waiter
                continue
            waiters: list[asyncio.Future[None]] = []
            self._flushing = waiters
            try:
                await asyncio.sleep(0)
                await self._append_pending()
            finally:
                self._flushing = None
                for waiter in waiters:  # they look again: durable, or one of them flushes
                    if not waiter.done():
                        waiter.set_result(None)

    async def _append_pending(self) -> None:
        batch, self._pending = self._pending, []
        if self._is_uncertain:
            batch = await self._drop_stored(batch)
        try:
            await self._store.append(self.run_id, batch)
        except asyncio.CancelledError:
            # The append may still complete in its worker thread: check on the next flush.
            self._pending[:0] = batch
            self._is_uncertain = True
            raise
        except BaseException:
            self._pending[:0] = batch
            raise
        self._durable = batch[-1].seq if batch else self._durable

    async def _drop_stored(self, batch: list[Event]) -> list[Event]:
        stored = await self._store.read(self.run_id, after_seq=self._durable)
        self._is_uncertain = False
        if stored:
            self._durable = stored[-1].seq
        return [e for e in batch if e.seq > self._durable]
