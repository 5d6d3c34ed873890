"""``ServerConfig``: what one server needs to know (its token, its store, its clock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import podium

__all__ = ["ServerConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """How a server runs.

    Args:
        token: the bearer token every request but the health check must carry.
        store: where the runs are: a SQLite file or a PostgreSQL URL; None for the CLI's
            default (``podium.default_store()``).
        clock: time source for runs and approval deadlines; ``ManualClock`` in tests.
        poll_interval: how often a live stream looks for events written by another process
            (a run started with ``podium run``); events written by this server's own runs are
            sent the moment they are committed.
        rescan_interval: how often waiting runs recorded by other processes are looked at for
            approval deadlines (this server's own requests are seen at once).
        start_timeout: how long starting or resuming a run may take before the request fails
            (loading the workflow, indexing ``docs``).
    """

    token: str
    store: str | Path | None = None
    clock: podium.Clock = field(default_factory=podium.SystemClock)
    poll_interval: timedelta = timedelta(seconds=1)
    rescan_interval: timedelta = timedelta(seconds=30)
    start_timeout: timedelta = timedelta(seconds=120)
