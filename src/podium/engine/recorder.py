"""Recorder: appends a run's events to the store, in order, before anything acts on them.

It numbers events, stamps them with the clock, appends them durably, folds them into the run's
state and passes them to subscribers (the live view). Context writes are staged, logged and
applied under one lock, so the context never holds a value the log does not, and two
concurrent writers cannot both get the same version number.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import JsonValue

from podium.agent import Agent
from podium.clock import Clock
from podium.context import Context, Provenance
from podium.event import ContextWritten, Event
from podium.ids import RunId, TaskId
from podium.run import RunState
from podium.stores.base import Store

__all__ = ["Draft", "Recorder", "Subscriber"]

logger = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]
Draft = tuple[type[Any], dict[str, Any]]
"""An event class and its fields, less ``seq``, ``run_id`` and ``at`` which the recorder adds."""


class Recorder:
    """The single writer of one run's event log."""

    def __init__(
        self,
        run_id: RunId,
        *,
        store: Store,
        clock: Clock,
        subscribers: Sequence[Subscriber] = (),
    ) -> None:
        self.run_id = run_id
        self.state = RunState(run_id=run_id)
        self.events: list[Event] = []
        self._store = store
        self._clock = clock
        self._subscribers = list(subscribers)
        self._lock = asyncio.Lock()

    async def emit(self, kind: type[Any], /, **fields: Any) -> None:  # Any: event fields
        """Append one event."""
        await self.emit_all([(kind, fields)])

    async def emit_all(self, drafts: Sequence[Draft]) -> None:
        """Append several events atomically, in order."""
        async with self._lock:
            await self._append(drafts)

    async def write(
        self,
        context: Context,
        key: str,
        value: JsonValue,
        *,
        task_id: TaskId | None,
        writer: Agent | None,
        before: Sequence[Draft] = (),
        then: Sequence[Draft] = (),
    ) -> None:
        """Append ``before``, the write of ``value`` to ``key`` and ``then`` in one commit.

        The write is checked against ``writer``'s scope first.

        Raises:
            ContextAccessError: the writer may not write ``key``; nothing is logged.
        """
        async with self._lock:
            provenance = Provenance(
                run_id=self.run_id,
                task_id=task_id,
                agent=writer.name if writer else None,
                at=self._clock.now(),
            )
            version = context.stage(key, value, provenance=provenance, writer=writer)
            written: Draft = (
                ContextWritten,
                {
                    "key": context.namespace + key,
                    "version": version.version,
                    "value": version.value,
                    "task_id": task_id,
                    "agent": provenance.agent,
                },
            )
            await self._append([*before, written, *then])
            context.apply(version)

    async def _append(self, drafts: Sequence[Draft]) -> None:
        at = self._clock.now()
        first = len(self.events) + 1
        events: list[Event] = [
            kind(seq=first + i, run_id=self.run_id, at=at, **fields)
            for i, (kind, fields) in enumerate(drafts)
        ]
        await self._store.append(self.run_id, events)
        for event in events:
            self.events.append(event)
            self.state.apply(event)
            for subscriber in self._subscribers:
                subscriber(event)
