"""Timeouts of waiting runs (approvals, signal waits) fire on time while the server runs,
not only when someone resumes the run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from served import CHECKOUT, OUTREACH, Served, is_end, sse_events, wait_until

TIMED = OUTREACH.replace(
    "approval: {reason: sends an email to a client}",
    "approval: {reason: sends an email to a client, timeout: 3600, on_timeout: approve}",
)


async def test_an_expired_request_gets_its_default_decision(
    served: Served, client: httpx.AsyncClient
) -> None:
    events = await _run_past_its_deadline(served, client, served.workflow(TIMED))

    granted = next(e for e in events if e["kind"] == "approval_granted")
    assert granted["by"] == "timeout"
    assert granted["comment"] == "approved when the approval timed out"


async def test_a_signal_wait_past_its_deadline_gets_its_on_timeout(
    served: Served, client: httpx.AsyncClient
) -> None:
    timed = CHECKOUT.replace(
        "wait: {signal: payment}", "wait: {signal: payment, timeout: 3600, on_timeout: skip}"
    )
    events = await _run_past_its_deadline(served, client, served.workflow(timed, "checkout.yaml"))

    skipped = next(e for e in events if e["kind"] == "task_skipped")
    assert skipped["task_id"] == "paid"
    assert "no signal 'payment' before its timeout" in skipped["reason"]


async def _run_past_its_deadline(
    served: Served, client: httpx.AsyncClient, workflow: str
) -> list[dict[str, Any]]:
    """Start ``workflow``, which waits with a one-hour timeout; move the server's clock past
    it; the events until the run ends (it must succeed)."""
    started = await client.post("/v1/runs", json={"workflow": workflow})
    run_id = started.json()["run_id"]
    stream = f"/v1/runs/{run_id}/events/stream"
    await sse_events(client, stream, until=is_end("waiting"))
    # the timer now sleeps until the deadline, an hour away on the server's clock
    await wait_until(lambda: served.clock.next_deadline() == timedelta(hours=1))
    served.clock.advance(timedelta(minutes=59))
    assert (await client.get(f"/v1/runs/{run_id}")).json()["status"] == "waiting"
    served.clock.advance(timedelta(minutes=2))
    return await sse_events(client, stream, until=is_end("succeeded"))
