"""The Store protocol: the durable home of run event logs.

A store appends and reads events, finds runs by id prefix, start time and status, and deletes
a whole run's log (retention, ``podium gc``); run state is always folded from the events
(``podium.run.project``). The SQLite store is the default; the PostgreSQL store
(``podium.stores.postgres``, extra ``postgres``) is shared by many processes and machines.
Both pass ``podium.testing.store_contract``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from pydantic import ValidationError

from podium.errors import AppendConflictError, StoreError
from podium.event import Event, RunStatus, check_schema_version, load_event
from podium.ids import RunId
from podium.run import RunSummary

__all__ = ["Store", "check_continues", "load_stored"]


class Store(Protocol):
    """Durable home of run event logs. Implementations pass ``podium.testing.store_contract``.

    Contract:
        - ``append`` stores events atomically (all or none) and durably before it returns; the
          events of a run have strictly increasing ``seq`` with no gaps, starting at 1, and an
          append that breaks this raises ``StoreError`` and stores nothing.
        - ``read`` returns a run's events with ``seq > after_seq`` in ``seq`` order (empty for
          an unknown run).
        - ``list_runs`` returns summaries of the most recently started runs first (a log
          without a ``run_started`` event is not listed), only those that match every filter
          given: an id starting with ``prefix``; a start at or after ``since`` and before
          ``before`` (a naive datetime means UTC); a recorded ``status`` (the one the log
          last set: ``run_started`` and ``run_resumed`` set ``running``, ``run_completed``
          its own). The store answers from an index, without reading every run.
        - ``delete_run`` removes a run's events and its place in ``list_runs`` atomically (all
          or nothing) and returns whether there was anything to remove; afterwards the run
          reads empty and its id may start a new log at ``seq`` 1. Other runs are untouched.
          Deciding *which* runs may go (finished, not resumable) is the caller's job; with
          ``if_last_seq`` the store deletes only a log that still ends at that ``seq``, so a
          run resumed since the caller decided is kept.
        - ``append`` of events whose ``seq`` does not continue the log raises
          ``AppendConflictError``: two writers of one run cannot both succeed.
        - ``aclose`` releases the store's resources; it is safe to call twice.
        Driver errors surface as ``StoreError`` with the driver's error as ``__cause__``.
    """

    async def append(self, run_id: RunId, events: Sequence[Event]) -> None:
        """Append ``events`` to the log of ``run_id``."""
        ...

    async def read(self, run_id: RunId, *, after_seq: int = 0) -> list[Event]:
        """Read the events of ``run_id`` after ``after_seq``."""
        ...

    async def list_runs(
        self,
        *,
        limit: int = 50,
        prefix: str = "",
        since: datetime | None = None,
        before: datetime | None = None,
        status: RunStatus | None = None,
    ) -> list[RunSummary]:
        """Summaries of the ``limit`` most recent runs that match the filters, newest first."""
        ...

    async def delete_run(self, run_id: RunId, *, if_last_seq: int | None = None) -> bool:
        """Delete the log of ``run_id``; False if the store holds no such run, or if
        ``if_last_seq`` is given and the log no longer ends there (checked atomically)."""
        ...

    async def aclose(self) -> None:
        """Release resources."""
        ...


def check_continues(run_id: RunId, next_seq: int, events: Sequence[Event]) -> int:
    """Check that ``events`` continue the log of ``run_id`` whose next seq is ``next_seq``.

    For implementations: call it inside the append's transaction, before storing anything.

    Returns:
        The seq that follows the last of ``events``.

    Raises:
        AppendConflictError: an event's seq is not the next one (another writer appended
            first, or the run was deleted).
        StoreError: an event belongs to another run.
    """
    expected = next_seq
    for event in events:
        if event.seq != expected:
            raise AppendConflictError(f"run {run_id}: expected seq {expected}, got {event.seq}")
        if event.run_id != run_id:
            raise StoreError(f"run {run_id}: event {event.seq} belongs to run {event.run_id}")
        expected += 1
    return expected


def load_stored(store: str, *, run_id: RunId, seq: int, version: int, body: str | bytes) -> Event:
    """Parse one stored event and check that it is the one its row says it is.

    Args:
        store: names the store in messages.
        run_id: the run of the row.
        seq: the seq of the row.
        version: the event schema version the row was written with.
        body: the event's JSON.

    Raises:
        StoreError: the event is newer than this podium, does not parse, or is another one.
    """
    where = f"run {run_id} event {seq}"
    check_schema_version(version, where=where)
    try:
        event = load_event(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise StoreError(f"{store}: {where} does not parse: {first['msg']}") from exc
    if event.seq != seq or event.run_id != run_id:
        raise StoreError(f"{store}: {where} holds event {event.seq} of {event.run_id}")
    return event
