"""Reading what was recorded: the runs in a store, one run's state, metrics over a window.

These are the public read functions of the facade (``podium.list_runs``, ``podium.get_run``,
``podium.pending_approvals``, ``podium.metrics``, ``podium.routing_preferences``). They only
read, so they may watch a run another process is still recording. Each takes ``store=``: a
``Store``, the path of a SQLite file, or None for the default file
(``podium.default_store_path``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from podium.clock import SystemClock
from podium.errors import ConfigError, RunNotFoundError
from podium.event import ApprovalRequested, Event, RunStatus
from podium.ids import RunId
from podium.router import WINDOW, Preference
from podium.router import routing_preferences as _routing_preferences
from podium.run import RunState, RunSummary, project
from podium.stores.argument import StoreArg, opened_store
from podium.stores.base import Store
from podium.telemetry.metrics import GroupBy, MetricsReport, Window, compute_metrics

__all__ = [
    "get_run",
    "list_runs",
    "metrics",
    "metrics_series",
    "pending_approvals",
    "resolve_run_id",
    "routing_preferences",
]

_PREFIX_SEARCH: Final = 1000
"""At most this many runs matching a prefix are counted in the error that lists them."""
_EVERY_RUN: Final = 2**62
"""``list_runs`` limit that lists every run that matches its filters."""
_SHOWN_MATCHES: Final = 10


async def list_runs(
    *,
    limit: int = 50,
    prefix: str = "",
    since: datetime | None = None,
    before: datetime | None = None,
    status: RunStatus | None = None,
    store: StoreArg = None,
) -> list[RunSummary]:
    """Summaries of the most recently started runs, newest first; the store answers each
    filter from an index.

    Args:
        limit: at most this many runs.
        prefix: only runs whose id starts with it.
        since: only runs started at or after it (a naive datetime means UTC).
        before: only runs started before it.
        status: only runs whose log last recorded this status (``running`` includes runs
            whose process died: ``shown_status`` tells them apart).
        store: a ``Store``, a SQLite file path, a PostgreSQL URL, or None for
            ``default_store()``.

    Returns:
        One summary per run: status, start, duration, tasks, tokens, cost. A run whose
        status is ``running`` but whose process is gone was interrupted (``shown_status``).

    Raises:
        StoreError: the store cannot be read.
    """
    async with opened_store(store) as opened:
        return await opened.list_runs(
            limit=limit, prefix=prefix, since=since, before=before, status=status
        )


async def pending_approvals(
    *, scan: int = 1000, store: StoreArg = None
) -> list[tuple[RunState, ApprovalRequested]]:
    """Every task waiting for a person's approval, oldest request first, with its run's state.

    Args:
        scan: how many of the most recent runs of each status that can wait are looked
            through: those recorded ``waiting``, and those recorded ``running`` (a run on
            Temporal waits while running, and a run may wait in one branch while others run).
        store: a ``Store``, a SQLite file path, a PostgreSQL URL, or None for
            ``default_store()``.
    """
    pending: list[tuple[RunState, ApprovalRequested]] = []
    async with opened_store(store) as opened:
        for status in ("waiting", "running"):
            for summary in await opened.list_runs(limit=scan, status=status):
                state = project(summary.run_id, await opened.read(summary.run_id))
                pending.extend((state, request) for request in state.approvals.values())
    return sorted(pending, key=lambda p: (p[1].at, p[1].run_id, p[1].task_id))


async def get_run(run_id: str, *, store: StoreArg = None) -> RunState:
    """The full state of one run, folded from its event log.

    Args:
        run_id: the run's id, or enough of its first characters to name one run.
        store: a ``Store``, a SQLite file path, or None for ``default_store_path()``.

    Returns:
        The run's state: status, graph, tasks, context writes with provenance, calls, plans,
        verdicts, approvals waiting, feedback and output.

    Raises:
        ConfigError: no run, or more than one, matches ``run_id``.
        StoreError: the store cannot be read.
    """
    async with opened_store(store) as opened:
        events = await opened.read(RunId(run_id)) if run_id.strip() else []
        if events:  # a whole id: read once (a large run's log takes a while to load)
            return project(RunId(run_id), events)
        resolved = await resolve_run_id(opened, run_id)
        return project(resolved, await opened.read(resolved))


async def resolve_run_id(store: Store, prefix: str) -> RunId:
    """The id of the one run in ``store`` whose id is or starts with ``prefix``.

    Args:
        store: the open store.
        prefix: a run id or its first characters.

    Returns:
        The full run id.

    Raises:
        ConfigError: ``prefix`` is blank, or no run or more than one matches it.
    """
    if not prefix.strip():
        raise ConfigError("give a run id, or its first characters; `podium runs` lists them")
    if await store.read(RunId(prefix), after_seq=0):
        return RunId(prefix)
    matches = await store.list_runs(limit=_PREFIX_SEARCH, prefix=prefix)
    if len(matches) != 1:
        raise _no_match(prefix, matches)
    return matches[0].run_id


def _no_match(prefix: str, matches: list[RunSummary]) -> ConfigError:
    if not matches:
        return RunNotFoundError(f"no run matches {prefix!r}; `podium runs` lists the recent ones")
    lines = "\n".join(
        f"  {s.run_id}  {s.goal or s.workflow}  {s.status}  {_local(s.started_at)}"
        for s in matches[:_SHOWN_MATCHES]
    )
    extra = len(matches) - _SHOWN_MATCHES
    more = f"\n  … and {extra} more" if extra > 0 else ""
    return ConfigError(
        f"{prefix!r} matches {len(matches)} runs; give more of the id:\n{lines}{more}"
    )


def _local(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


async def metrics(
    *,
    window: timedelta = timedelta(days=7),
    by: GroupBy = "workflow",
    until: datetime | None = None,
    store: StoreArg = None,
) -> MetricsReport:
    """Metrics of the runs that started in the last ``window``, with their trend.

    Completion and error rates, task and model-call latency (p50/p95), hallucination rate,
    user satisfaction, cost and tokens, overall and per group, each compared with the window
    of the same length just before (``docs/metrics.md`` defines them).

    Args:
        window: how far back from ``until`` runs are counted.
        by: group by ``"workflow"``, ``"agent"`` or ``"model"``.
        until: the end of the window (exclusive); now when None.
        store: a ``Store``, a SQLite file path, or None for ``default_store_path()``.

    Returns:
        The report: the window, the overall metrics and one entry per group.

    Raises:
        StoreError: the store cannot be read.
    """
    span = Window.ending(until or SystemClock().now(), window)
    async with opened_store(store) as opened:
        logs = await _logs_started(opened, span.previous().start, span.end)
    return compute_metrics([log for _, log in logs], window=span, by=by)


async def metrics_series(
    *,
    window: timedelta = timedelta(days=7),
    buckets: int = 7,
    by: GroupBy = "workflow",
    until: datetime | None = None,
    store: StoreArg = None,
) -> list[MetricsReport]:
    """Metrics over time: ``window`` cut into ``buckets`` equal spans, oldest first.

    Each report is what ``metrics(window=window / buckets, until=<the span's end>)`` gives,
    computed from one read of the store.

    Args:
        window: the whole time covered, ending at ``until``.
        buckets: how many equal spans to cut it into.
        by: group by ``"workflow"``, ``"agent"`` or ``"model"``.
        until: the end of the last span (exclusive); now when None.
        store: a ``Store``, a SQLite file path, or None for ``default_store_path()``.

    Returns:
        One report per span, oldest first, each with its trend against the span before.

    Raises:
        ConfigError: ``buckets`` is less than 1.
        StoreError: the store cannot be read.
    """
    if buckets < 1:
        raise ConfigError(f"buckets={buckets}: cut the window into at least one span")
    end = until or SystemClock().now()
    span = window / buckets
    async with opened_store(store) as opened:
        logs = await _logs_started(opened, end - window - span, end)
    reports: list[MetricsReport] = []
    for index in range(buckets - 1, -1, -1):
        part = Window.ending(end - span * index, span)
        held = [log for at, log in logs if part.previous().start <= at < part.end]
        reports.append(compute_metrics(held, window=part, by=by))
    return reports


async def _logs_started(
    store: Store, start: datetime, end: datetime
) -> list[tuple[datetime, list[Event]]]:
    """The logs of the runs that started in ``[start, end)``, with their start."""
    logs: list[tuple[datetime, list[Event]]] = []
    for summary in await store.list_runs(limit=_EVERY_RUN, since=start, before=end):
        if summary.started_at is not None:
            logs.append((summary.started_at, await store.read(summary.run_id)))
    return logs


async def routing_preferences(
    *, window: timedelta = WINDOW, store: StoreArg = None
) -> list[Preference]:
    """What the learning router has learned: per capability, how it would route now.

    Args:
        window: learn from the runs that started this long ago until now.
        store: a ``Store``, a SQLite file path, or None for ``default_store_path()``.

    Returns:
        One preference per (capability, agent) seen: runs, success rate, latency, cost,
        satisfaction, expected share and the reason.

    Raises:
        StoreError: the store cannot be read.
    """
    async with opened_store(store) as opened:
        return await _routing_preferences(opened, window=window)
