"""RunQuery: the filters of ``Store.list_runs`` as SQL conditions both SQL stores share.

Each store keeps one row per run with its id, start time and recorded status, indexed; a query
becomes conditions on those columns, so no store reads every run to answer it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from podium.event import Event, RunCompleted, RunResumed, RunStarted, RunStatus

__all__ = ["RunQuery", "as_utc", "status_after"]

_LAST_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunQuery:
    """What ``list_runs`` asks for (see ``Store.list_runs``)."""

    limit: int
    prefix: str = ""
    since: datetime | None = None
    before: datetime | None = None
    status: RunStatus | None = None

    def select_ids(
        self, placeholder: str, time: Callable[[datetime], object]
    ) -> tuple[str, list[object]]:
        """The SQL that selects the matching ids from ``runs(run_id, started_at, status)``.

        Args:
            placeholder: the driver's parameter marker (``?`` or ``%s``).
            time: turns a datetime into the value the store compares ``started_at`` with.

        Returns:
            The statement, newest first, and its parameters in order.
        """
        where, params = self._conditions(placeholder, time)
        sql = (
            f"SELECT run_id FROM runs WHERE {' AND '.join(where)}"
            f" ORDER BY started_at DESC, run_id DESC LIMIT {placeholder}"
        )
        return sql, [*params, self.limit]

    def _conditions(
        self, placeholder: str, time: Callable[[datetime], object]
    ) -> tuple[list[str], list[object]]:
        where = ["started_at IS NOT NULL"]
        params: list[object] = []
        if self.prefix:
            # A range on the id (code point order, the stores' collation) uses the index,
            # where LIKE would need escaping and a planner that sees the pattern.
            where.append(f"run_id >= {placeholder}")
            params.append(self.prefix)
            upper = _after_prefix(self.prefix)
            if upper is not None:
                where.append(f"run_id < {placeholder}")
                params.append(upper)
        for op, value in ((">=", self.since), ("<", self.before)):
            if value is not None:
                where.append(f"started_at {op} {placeholder}")
                params.append(time(value))
        if self.status is not None:
            where.append(f"status = {placeholder}")
            params.append(self.status)
        return where, params


def as_utc(at: datetime) -> datetime:
    """``at`` as an aware UTC datetime (a naive one means UTC)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def status_after(event: Event) -> RunStatus | None:
    """The run status ``event`` records (what ``podium.run.project`` folds), or None."""
    if isinstance(event, RunCompleted):
        return event.status
    if isinstance(event, RunStarted | RunResumed):
        return "running"
    return None


def _after_prefix(prefix: str) -> str | None:
    """A string greater than every string that starts with ``prefix`` and smaller than every
    other string greater than ``prefix``; None if there is none (a prefix of only U+10FFFF)."""
    stripped = prefix.rstrip(chr(_LAST_CODE_POINT))
    if not stripped:
        return None
    following = ord(stripped[-1]) + 1
    if following in _SURROGATES:  # not encodable: the next code point after them
        following = _SURROGATES.stop
    return stripped[:-1] + chr(following)
