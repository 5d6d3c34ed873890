"""Attempt deadlines: one loop timer for all the attempts that share a timeout.

Each attempt runs under a timeout (``TimeLimited``: 10 minutes unless the task or agent says
otherwise) with ``asyncio.timeout``'s semantics: past its deadline the attempt is cancelled
and fails with ``TimeoutError``. A timer of its own per attempt costs a handle pushed onto
the event loop's heap and cancelled (and later removed) when the attempt ends: a few
microseconds on every agent task, while next to no attempt ever reaches its deadline.

Attempts with the same timeout fall due in the order they started, so they can queue: one
queue per event loop and timeout (``deadlines``), and one loop timer for each queue, at its
earliest deadline. An attempt costs a queue entry; an ended one leaves the queue once the
entries ahead of it have left too. When the timer fires it expires the attempts that are
due (``asyncio.Timeout.reschedule`` to their deadline: the attempt's task is cancelled and
its timeout turns that into ``TimeoutError``), drops the ended ones, and is set again for
the next deadline; with nothing left it stays unset.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections import deque

__all__ = ["DeadlineQueue", "deadlines"]

_SLACK_S = 1e-6
"""A deadline this close counts as due: the loop fires a timer up to its clock's resolution
early."""

_QUEUES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[float, DeadlineQueue]] = (
    weakref.WeakKeyDictionary()
)


def deadlines(loop: asyncio.AbstractEventLoop, seconds: float) -> DeadlineQueue:
    """The queue of the attempts on ``loop`` whose timeout is ``seconds``."""
    by_timeout = _QUEUES.get(loop)
    if by_timeout is None:
        by_timeout = _QUEUES[loop] = {}
    queue = by_timeout.get(seconds)
    if queue is None:
        queue = by_timeout[seconds] = DeadlineQueue(seconds)
    return queue


class Entry:
    """One attempt in a queue: its deadline, and its timeout until it ends."""

    __slots__ = ("at", "timeout")

    def __init__(self, at: float, timeout: asyncio.Timeout) -> None:
        self.at = at
        self.timeout: asyncio.Timeout | None = timeout


class DeadlineQueue:
    """The attempts of one event loop with one timeout, in the order they fall due.

    It holds no reference to its loop, not even its timer's handle (the loop holds that, and
    the handle the queue), so that a loop and its queues go away together; its timer runs in
    a context of its own, not in that of the attempt that set it.
    """

    __slots__ = ("_entries", "_is_armed", "_seconds")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._entries: deque[Entry] = deque()
        self._is_armed = False

    def __len__(self) -> int:
        """Entries still queued (ended attempts behind a running one among them)."""
        return len(self._entries)

    @property
    def is_armed(self) -> bool:
        """Whether the loop holds a timer for this queue."""
        return self._is_armed

    def add(self, loop: asyncio.AbstractEventLoop, timeout: asyncio.Timeout) -> Entry:
        """Queue an attempt that has just entered ``timeout`` (made with no deadline)."""
        entry = Entry(loop.time() + self._seconds, timeout)
        self._entries.append(entry)
        if not self._is_armed:
            self._arm(loop, entry.at)
        return entry

    def remove(self, entry: Entry) -> None:
        """The attempt of ``entry`` ended (before its timeout exits)."""
        entry.timeout = None
        entries = self._entries
        while entries and entries[0].timeout is None:
            entries.popleft()

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        loop.call_at(at, self._fire, context=contextvars.Context())
        self._is_armed = True

    def _fire(self) -> None:
        self._is_armed = False
        loop = asyncio.get_running_loop()
        due = loop.time() + _SLACK_S
        entries = self._entries
        while entries and (entries[0].timeout is None or entries[0].at <= due):
            entry = entries.popleft()
            if entry.timeout is not None:
                entry.timeout.reschedule(entry.at)  # in the past: expires at once
                entry.timeout = None
        if entries:
            self._arm(loop, entries[0].at)
