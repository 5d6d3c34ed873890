"""``/v1/metrics``: the figures of ``podium metrics``, over time, and the router's preferences.

Every figure is computed from the logs (``podium.metrics``); nothing is counted on the side.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

import podium
from podium.server.services import ServicesDep

__all__ = ["router"]

router = APIRouter(prefix="/v1/metrics", tags=["metrics"])

_MAX_BUCKETS: Final = 60
GroupBy = Literal["workflow", "agent", "model"]
WindowQuery = Annotated[
    podium.Duration,
    Query(description="How far back runs are counted: 7d, 24h, 90m (or ISO 8601)."),
]


class Point(BaseModel):
    """The metrics of the runs that started in one bucket of a series."""

    start: datetime
    end: datetime
    overall: podium.Metrics
    groups: dict[str, podium.Metrics]


@router.get("", summary="Metrics over a window, grouped")
async def get_metrics(
    services: ServicesDep,
    window: WindowQuery = timedelta(days=7),
    by: GroupBy = "workflow",
) -> podium.MetricsReport:
    """Completion rate, task and call latency (p50/p95), error rate, hallucination rate,
    satisfaction, cost and tokens, overall and per workflow, agent or model, each with its
    trend against the window of the same length before (as ``podium metrics``)."""
    return await podium.metrics(
        window=window, by=by, until=services.config.clock.now(), store=services.store
    )


@router.get("/series", response_model=list[Point], summary="Metrics over time")
async def get_series(
    services: ServicesDep,
    window: WindowQuery = timedelta(days=7),
    buckets: Annotated[int, Query(ge=1, le=_MAX_BUCKETS)] = 7,
    by: GroupBy = "agent",
) -> list[Point]:
    """The window cut into ``buckets`` equal spans, oldest first, with the metrics of the
    runs that started in each, overall and per group (for charts over time)."""
    reports = await podium.metrics_series(
        window=window, buckets=buckets, by=by, until=services.config.clock.now(),
        store=services.store,
    )  # fmt: skip
    return [
        Point(
            start=r.window.start,
            end=r.window.end,
            overall=r.overall.current,
            groups={g.group: g.current for g in r.groups},
        )
        for r in reports
    ]


@router.get("/routing", summary="What the router learned")
async def get_routing(
    services: ServicesDep, window: WindowQuery = timedelta(days=30)
) -> list[podium.Preference]:
    """Per capability and agent: runs, success rate, latency, cost, satisfaction, the share
    of tasks the learning router would now give it, and why (``podium metrics --routing``)."""
    return await podium.routing_preferences(window=window, store=services.store)
