"""Approval timeouts fire on time while the server runs, not only when someone resumes."""

from __future__ import annotations

from datetime import timedelta

import httpx
from served import OUTREACH, Served, is_end, sse_events, wait_until

TIMED = OUTREACH.replace(
    "approval: {reason: sends an email to a client}",
    "approval: {reason: sends an email to a client, timeout: 3600, on_timeout: approve}",
)


async def test_an_expired_request_gets_its_default_decision(
    served: Served, client: httpx.AsyncClient
) -> None:
    started = await client.post("/v1/runs", json={"workflow": served.workflow(TIMED)})
    run_id = started.json()["run_id"]
    stream = f"/v1/runs/{run_id}/events/stream"
    await sse_events(client, stream, until=is_end("waiting"))
    listed = (await client.get("/v1/approvals")).json()
    assert listed[0]["deadline"] is not None
    # the timer now sleeps until the deadline, an hour away on the server's clock
    await wait_until(lambda: served.clock.next_deadline() == timedelta(hours=1))
    served.clock.advance(timedelta(minutes=59))
    assert (await client.get(f"/v1/runs/{run_id}")).json()["status"] == "waiting"
    served.clock.advance(timedelta(minutes=2))
    events = await sse_events(client, stream, until=is_end("succeeded"))
    granted = next(e for e in events if e["kind"] == "approval_granted")
    assert granted["by"] == "timeout"
    assert granted["comment"] == "approved when the approval timed out"
