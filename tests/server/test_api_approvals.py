"""Approvals over HTTP: list across runs, approve (as proposed or edited), deny, batch, and
two people deciding at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from served import Served, is_end, sse_events, start_waiting_run


async def test_waiting_tasks_are_listed_across_runs(
    served: Served, client: httpx.AsyncClient
) -> None:
    first = await start_waiting_run(served, client)
    served.clock.advance(timedelta(seconds=1))  # the queue is oldest request first
    second = await start_waiting_run(served, client)
    listed = (await client.get("/v1/approvals")).json()
    assert [(a["run_id"], a["task_id"], a["agent"]) for a in listed] == [
        (first, "send", "mailer"),
        (second, "send", "mailer"),
    ]
    assert listed[0]["reason"] == "sends an email to a client"
    assert listed[0]["output"] == "Sent: Dear client, your order shipped."
    assert listed[0]["workflow"] == "outreach"


async def test_approving_resumes_the_run_to_success(
    served: Served, client: httpx.AsyncClient
) -> None:
    run_id = await start_waiting_run(served, client)
    reply = await client.post(
        f"/v1/runs/{run_id}/approvals/send", json={"approve": True, "comment": "fine", "by": "ana"}
    )
    assert reply.status_code == 200
    assert reply.json()["resumed"] is True
    events = await sse_events(client, f"/v1/runs/{run_id}/events/stream", until=is_end("succeeded"))
    granted = next(e for e in events if e["kind"] == "approval_granted")
    assert (granted["by"], granted["comment"], granted["is_edited"]) == ("ana", "fine", False)
    assert (await client.get("/v1/approvals")).json() == []


async def test_an_edited_output_is_the_one_written(
    served: Served, client: httpx.AsyncClient
) -> None:
    run_id = await start_waiting_run(served, client)
    edited = "Sent: Dear client, your order shipped today."
    reply = await client.post(
        f"/v1/runs/{run_id}/approvals/send", json={"approve": True, "output": edited}
    )
    assert reply.status_code == 200
    await sse_events(client, f"/v1/runs/{run_id}/events/stream", until=is_end("succeeded"))
    detail = (await client.get(f"/v1/runs/{run_id}")).json()
    send = next(t for t in detail["tasks"] if t["id"] == "send")
    assert send["output"] == edited


async def test_a_denial_needs_a_reason_and_fails_the_task(
    served: Served, client: httpx.AsyncClient
) -> None:
    run_id = await start_waiting_run(served, client)
    path = f"/v1/runs/{run_id}/approvals/send"
    blank = await client.post(path, json={"approve": False, "reason": "  "})
    assert blank.status_code == 400
    assert "a denial needs a reason" in blank.json()["detail"]
    denied = await client.post(path, json={"approve": False, "reason": "wrong client"})
    assert denied.status_code == 200
    await sse_events(client, f"/v1/runs/{run_id}/events/stream", until=is_end("failed"))
    detail = (await client.get(f"/v1/runs/{run_id}")).json()
    send = next(t for t in detail["tasks"] if t["id"] == "send")
    assert send["status"] == "failed"
    assert "wrong client" in send["error"]


async def test_a_batch_decides_each_item_on_its_own(
    served: Served, client: httpx.AsyncClient
) -> None:
    first = await start_waiting_run(served, client)
    second = await start_waiting_run(served, client)
    reply = await client.post(
        "/v1/approvals",
        json={
            "decisions": [
                {"run_id": first, "task_id": "send", "approve": True},
                {"run_id": second, "task_id": "send", "approve": True},
                {"run_id": second, "task_id": "draft", "approve": True},
            ]
        },
    )
    assert reply.status_code == 200
    outcomes = reply.json()
    assert [(o["run_id"], o["task_id"], o["status"]) for o in outcomes] == [
        (first, "send", 200),
        (second, "send", 200),
        (second, "draft", 409),
    ]
    assert "is not waiting for approval" in outcomes[2]["detail"]
    assert outcomes[0]["resumed"] and outcomes[1]["resumed"]
    for run_id in (first, second):
        await sse_events(client, f"/v1/runs/{run_id}/events/stream", until=is_end("succeeded"))


async def test_two_people_approving_at_once_one_wins_one_gets_a_conflict(
    served: Served, client: httpx.AsyncClient
) -> None:
    run_id = await start_waiting_run(served, client)
    path = f"/v1/runs/{run_id}/approvals/send"
    async with served.client() as other, asyncio.TaskGroup() as group:
        mine = group.create_task(client.post(path, json={"approve": True, "by": "ana"}))
        theirs = group.create_task(other.post(path, json={"approve": True, "by": "ben"}))
    replies = sorted([mine.result(), theirs.result()], key=lambda r: r.status_code)
    assert [r.status_code for r in replies] == [200, 409]
    assert replies[1].headers["content-type"] == "application/problem+json"
    assert replies[1].json()["status"] == 409
    await sse_events(client, f"/v1/runs/{run_id}/events/stream", until=is_end("succeeded"))
    log = (await client.get(f"/v1/runs/{run_id}/events")).json()
    assert [e["kind"] for e in log].count("approval_granted") == 1
