"""The Store protocol: the durable home of run event logs.

A store appends and reads events, and deletes a whole run's log (retention, ``podium gc``);
run state is always folded from the events (``podium.run.project``). The SQLite store is the
default; a PostgreSQL store can be added without touching the engine, by passing
``podium.testing.store_contract``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from podium.event import Event
from podium.ids import RunId
from podium.run import RunSummary

__all__ = ["Store"]


class Store(Protocol):
    """Durable home of run event logs. Implementations pass ``podium.testing.store_contract``.

    Contract:
        - ``append`` stores events atomically (all or none) and durably before it returns; the
          events of a run have strictly increasing ``seq`` with no gaps, starting at 1, and an
          append that breaks this raises ``StoreError`` and stores nothing.
        - ``read`` returns a run's events with ``seq > after_seq`` in ``seq`` order (empty for
          an unknown run).
        - ``list_runs`` returns summaries of the most recently started runs first.
        - ``delete_run`` removes a run's events and its place in ``list_runs`` atomically (all
          or nothing) and returns whether there was anything to remove; afterwards the run
          reads empty and its id may start a new log at ``seq`` 1. Other runs are untouched.
          Deciding *which* runs may go (finished, not resumable) is the caller's job.
        - ``aclose`` releases the store's resources; it is safe to call twice.
        Driver errors surface as ``StoreError`` with the driver's error as ``__cause__``.
    """

    async def append(self, run_id: RunId, events: Sequence[Event]) -> None:
        """Append ``events`` to the log of ``run_id``."""
        ...

    async def read(self, run_id: RunId, *, after_seq: int = 0) -> list[Event]:
        """Read the events of ``run_id`` after ``after_seq``."""
        ...

    async def list_runs(self, *, limit: int = 50) -> list[RunSummary]:
        """Summaries of the ``limit`` most recent runs, newest first."""
        ...

    async def delete_run(self, run_id: RunId) -> bool:
        """Delete the log of ``run_id``; False if the store holds no such run."""
        ...

    async def aclose(self) -> None:
        """Release resources."""
        ...
