"""Signals over HTTP: ``POST /v1/runs/{id}/signals/{name}`` records the signal and resumes."""

from __future__ import annotations

import httpx
from served import CHECKOUT, Served, is_end, sse_events


async def test_a_signal_resumes_the_run_to_success(
    served: Served, client: httpx.AsyncClient
) -> None:
    started = await client.post(
        "/v1/runs", json={"workflow": served.workflow(CHECKOUT, "checkout.yaml")}
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    await sse_events(client, f"/v1/runs/{run_id}/events/stream", until=is_end("waiting"))

    reply = await client.post(
        f"/v1/runs/{run_id}/signals/payment", json={"data": {"amount": 12}, "by": "psp"}
    )

    assert reply.status_code == 200, reply.text
    assert reply.json()["resumed"] is True
    events = await sse_events(client, f"/v1/runs/{run_id}/events/stream", until=is_end("succeeded"))
    received = next(e for e in events if e["kind"] == "signal_received")
    assert (received["name"], received["data"], received["by"]) == (
        "payment",
        {"amount": 12},
        "psp",
    )


async def test_a_signal_to_an_unknown_run_is_a_404(client: httpx.AsyncClient) -> None:
    reply = await client.post("/v1/runs/nope/signals/payment", json={})
    assert reply.status_code == 404
