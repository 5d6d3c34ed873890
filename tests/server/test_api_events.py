"""The event log over HTTP: pages of it, and a live stream that resumes from an offset."""

from __future__ import annotations

import httpx
from served import Served, is_end, sse_events, start_waiting_run


async def test_a_page_of_events_after_an_offset(served: Served, client: httpx.AsyncClient) -> None:
    run_id = await start_waiting_run(served, client)
    every = (await client.get(f"/v1/runs/{run_id}/events")).json()
    assert [e["seq"] for e in every] == list(range(1, len(every) + 1))
    assert every[0]["kind"] == "run_started"
    later = (await client.get(f"/v1/runs/{run_id}/events", params={"after": 3, "limit": 2})).json()
    assert [e["seq"] for e in later] == [4, 5]


async def test_a_reconnecting_stream_loses_no_event_and_repeats_none(
    served: Served, client: httpx.AsyncClient
) -> None:
    """Read part of the log, drop the connection, let the run go on while nobody listens,
    then reconnect with Last-Event-ID: every event arrives exactly once, in order."""
    run_id = await start_waiting_run(served, client)
    stream = f"/v1/runs/{run_id}/events/stream"
    first = await sse_events(client, stream, until=lambda e: e["seq"] == 4)
    approved = await client.post(f"/v1/runs/{run_id}/approvals/send", json={"approve": True})
    assert approved.status_code == 200, approved.text  # the run resumes and ends meanwhile
    rest = await sse_events(
        client, stream, until=is_end("succeeded"), headers={"Last-Event-ID": "4"}
    )
    seqs = [e["seq"] for e in first + rest]
    assert seqs == list(range(1, len(seqs) + 1))
    assert rest[0]["seq"] == 5
    log = (await client.get(f"/v1/runs/{run_id}/events")).json()
    assert first + rest == log  # the stream is the log, as recorded


async def test_the_after_query_gives_the_offset_too(
    served: Served, client: httpx.AsyncClient
) -> None:
    run_id = await start_waiting_run(served, client)
    events = await sse_events(
        client, f"/v1/runs/{run_id}/events/stream?after=7", until=is_end("waiting")
    )
    assert events[0]["seq"] == 8


async def test_updates_name_each_run_as_it_changes(
    served: Served, client: httpx.AsyncClient
) -> None:
    async with served.client() as watcher, watcher.stream("GET", "/v1/updates") as updates:
        assert updates.status_code == 200
        run_id = await start_waiting_run(served, client)
        seen: list[str] = []
        async for line in updates.aiter_lines():
            if line.startswith("data:") and run_id in line:
                seen.append(line)
                break
    assert seen and '"seq":' in seen[0].replace(" ", "").replace('"seq":', '"seq":')
