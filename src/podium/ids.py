"""Identifiers: ``NewType`` aliases and the ``IdFactory`` that makes run ids.

This module and ``clock`` are the only ones allowed to make uuids or read the time, so that
a replay can inject deterministic factories.
"""

from __future__ import annotations

import itertools
import uuid
from typing import NewType, Protocol

__all__ = ["AgentName", "IdFactory", "RunId", "SequentialIdFactory", "TaskId", "UuidIdFactory"]

RunId = NewType("RunId", str)
TaskId = NewType("TaskId", str)
AgentName = NewType("AgentName", str)


class IdFactory(Protocol):
    """Makes new run ids. Ids must be unique within a store."""

    def new_run_id(self) -> RunId:
        """Return a fresh run id."""
        ...


class UuidIdFactory:
    """Random run ids: 12 hex characters of a uuid4, short enough to type."""

    def new_run_id(self) -> RunId:
        """Return a fresh random run id."""
        return RunId(uuid.uuid4().hex[:12])


class SequentialIdFactory:
    """Deterministic ids for tests and replays: ``run-1``, ``run-2``, ..."""

    def __init__(self, prefix: str = "run") -> None:
        self._prefix = prefix
        self._counter = itertools.count(1)

    def new_run_id(self) -> RunId:
        """Return the next id in sequence."""
        return RunId(f"{self._prefix}-{next(self._counter)}")
