"""``/v1/metrics``: the figures of ``podium metrics``, a series over time, and routing."""

from __future__ import annotations

from datetime import timedelta

import httpx
from served import Served, is_end, sse_events, start_waiting_run


async def _one_finished_run(served: Served, client: httpx.AsyncClient) -> str:
    run_id = await start_waiting_run(served, client)
    await client.post(f"/v1/runs/{run_id}/approvals/send", json={"approve": True})
    await sse_events(client, f"/v1/runs/{run_id}/events/stream", until=is_end("succeeded"))
    await client.post(f"/v1/runs/{run_id}/feedback", json={"score": 5})
    served.clock.advance(timedelta(minutes=1))  # a window ends before "now" (exclusive)
    return run_id


async def test_metrics_count_the_runs_of_the_window(
    served: Served, client: httpx.AsyncClient
) -> None:
    await _one_finished_run(served, client)
    report = (await client.get("/v1/metrics", params={"window": "24h", "by": "agent"})).json()
    overall = report["overall"]["current"]
    assert (overall["runs"], overall["finished"], overall["completed"]) == (1, 1, 0)
    assert overall["satisfaction"] == 5
    assert overall["completion_rate"] == 0.0  # a person intervened: not "no intervention"
    assert sorted(g["group"] for g in report["groups"]) == ["mailer", "writer"]


async def test_a_series_cuts_the_window_into_buckets(
    served: Served, client: httpx.AsyncClient
) -> None:
    await _one_finished_run(served, client)
    points = (await client.get("/v1/metrics/series", params={"window": "6h", "buckets": 3})).json()
    assert len(points) == 3
    assert [p["overall"]["runs"] for p in points] == [0, 0, 1]  # the run is in the last bucket
    assert points[0]["end"] == points[1]["start"]
    assert set(points[2]["groups"]) == {"mailer", "writer"}


async def test_a_bad_window_is_a_422_problem(client: httpx.AsyncClient) -> None:
    reply = await client.get("/v1/metrics", params={"window": "soon"})
    assert reply.status_code == 422
    assert "window" in reply.json()["detail"]


async def test_routing_preferences_read_back(client: httpx.AsyncClient) -> None:
    reply = await client.get("/v1/metrics/routing")
    assert reply.status_code == 200
    assert reply.json() == []  # no task routed by capability yet
