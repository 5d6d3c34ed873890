"""``/v1/runs``: start, list, show, cancel, resume, rate; errors as problem details."""

from __future__ import annotations

import asyncio
import textwrap
from datetime import timedelta
from typing import Any

import httpx
from served import Served, is_end, sse_events, start_waiting_run

import podium

BROKEN = textwrap.dedent(
    """\
    name: broken
    model: scripted
    agents:
      writer: {instructions: You write.}
    tasks:
      - {id: a, agent: writer, instruction: "x", needs: [b]}
      - {id: b, agent: ghost, instruction: "y"}
    """
)


async def test_a_started_run_executes_here_and_reads_back(
    served: Served, client: httpx.AsyncClient
) -> None:
    run_id = await start_waiting_run(served, client)
    listed = (await client.get("/v1/runs")).json()
    assert [(r["run_id"], r["status"], r["workflow"]) for r in listed] == [
        (run_id, "waiting", "outreach")
    ]
    detail = (await client.get(f"/v1/runs/{run_id[:6]}")).json()  # a prefix names it too
    assert detail["run_id"] == run_id
    assert [(t["id"], t["status"]) for t in detail["tasks"]] == [
        ("draft", "succeeded"),
        ("send", "waiting"),
        ("log", "pending"),
    ]
    assert [(n["id"], n["needs"]) for n in detail["graph"]] == [
        ("draft", []),
        ("send", ["draft"]),
        ("log", ["send"]),
    ]
    draft = next(w for w in detail["writes"] if w["key"] == "draft")
    assert (draft["version"], draft["agent"], draft["task_id"]) == (1, "writer", "draft")
    assert draft["value"] == "Dear client, your order shipped."
    assert [a["task_id"] for a in detail["approvals"]] == ["send"]
    assert detail["calls"][0]["kind"] == "model_called"
    assert detail["tokens"] > 0 and detail["last_seq"] > 0


async def test_runs_can_be_filtered_by_status_and_text(
    served: Served, client: httpx.AsyncClient
) -> None:
    run_id = await start_waiting_run(served, client)
    waiting = (await client.get("/v1/runs", params={"status": "waiting"})).json()
    done = (await client.get("/v1/runs", params={"status": "succeeded"})).json()
    found = (await client.get("/v1/runs", params={"q": "OUTREACH"})).json()
    missed = (await client.get("/v1/runs", params={"q": "nothing like it"})).json()
    assert [r["run_id"] for r in waiting] == [run_id]
    assert done == []
    assert [r["run_id"] for r in found] == [run_id]
    assert missed == []


async def test_a_workflow_that_does_not_validate_is_refused_with_its_problems(
    served: Served, client: httpx.AsyncClient
) -> None:
    reply = await client.post("/v1/runs", json={"workflow": served.workflow(BROKEN, "b.yaml")})
    assert reply.status_code == 400
    assert reply.headers["content-type"] == "application/problem+json"
    detail = reply.json()["detail"]
    assert "ghost" in detail  # the unknown agent, with where it was written
    assert "b.yaml:" in detail
    assert (await client.get("/v1/runs")).json() == []  # nothing was recorded


async def test_a_body_that_does_not_parse_is_a_422_problem(client: httpx.AsyncClient) -> None:
    reply = await client.post("/v1/runs", json={"goal": "x", "colour": "blue"})
    assert reply.status_code == 422
    problem = reply.json()
    assert problem["errors"][0]["loc"] == ["body", "colour"]
    assert "colour" in problem["detail"]


async def test_an_unknown_run_is_a_404_problem_with_the_cli_message(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.get("/v1/runs/nosuchrun")
    assert reply.status_code == 404
    assert reply.json()["detail"] == (
        "no run matches 'nosuchrun'; `podium runs` lists the recent ones"
    )
    assert (await client.post("/v1/runs/nosuchrun/resume")).status_code == 404


async def test_cancel_then_resume_a_waiting_run(served: Served, client: httpx.AsyncClient) -> None:
    run_id = await start_waiting_run(served, client)
    cancelled = await client.post(f"/v1/runs/{run_id}/cancel")
    assert cancelled.status_code == 202
    assert cancelled.json() == {"run_id": run_id, "how": "recorded"}
    again = await client.post(f"/v1/runs/{run_id}/cancel")
    assert again.status_code == 409
    assert "already ended cancelled" in again.json()["detail"]
    resumed = await client.post(f"/v1/runs/{run_id}/resume", json={})
    assert resumed.status_code == 202
    resumed_at: list[int] = []

    def waits_again(event: dict[str, Any]) -> bool:
        if event["kind"] == "run_resumed":
            resumed_at.append(event["seq"])
        return bool(resumed_at) and is_end("waiting")(event)

    events = await sse_events(client, f"/v1/runs/{run_id}/events/stream", until=waits_again)
    kinds = [e["kind"] for e in events]
    assert kinds.count("run_completed") == 3  # waiting, cancelled, waiting again
    assert (await client.get(f"/v1/runs/{run_id}")).json()["status"] == "waiting"


async def test_feedback_is_recorded_and_checked(served: Served, client: httpx.AsyncClient) -> None:
    run_id = await start_waiting_run(served, client)
    rated = await client.post(f"/v1/runs/{run_id}/feedback", json={"score": 4, "comment": "ok"})
    assert rated.status_code == 201
    assert (rated.json()["score"], rated.json()["by"]) == (4, "dashboard")
    too_high = await client.post(f"/v1/runs/{run_id}/feedback", json={"score": 6})
    assert too_high.status_code == 422
    no_task = await client.post(f"/v1/runs/{run_id}/feedback", json={"score": 3, "task_id": "nope"})
    assert no_task.status_code == 400
    assert "has no task 'nope'" in no_task.json()["detail"]
    detail = (await client.get(f"/v1/runs/{run_id}")).json()
    assert [f["score"] for f in detail["feedback"]] == [4]


async def test_a_goal_runs_on_the_default_team(client: httpx.AsyncClient) -> None:
    started = await client.post(
        "/v1/runs", json={"goal": "Compare e-bike makers in Vietnam", "model": "scripted"}
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    await sse_events(client, f"/v1/runs/{run_id}/events/stream", until=is_end("succeeded"))
    detail = (await client.get(f"/v1/runs/{run_id}")).json()
    assert detail["goal"] == "Compare e-bike makers in Vietnam"
    assert detail["plans"] and detail["plans"][0]["steps"]
    assert detail["output"] is not None


async def test_runs_recorded_by_another_process_show_up_in_the_list(
    served: Served, client: httpx.AsyncClient
) -> None:
    """The list is kept between requests; runs this server does not execute (the CLI's)
    appear within the poll interval, and this server's own at once."""
    first = await start_waiting_run(served, client)
    assert [r["run_id"] for r in (await client.get("/v1/runs")).json()] == [first]
    elsewhere = await podium.arun(
        served.workflow(), store=str(served.config.store), clock=served.clock
    )  # written to the same file, not through the server
    async with asyncio.timeout(60):
        while len(listed := (await client.get("/v1/runs")).json()) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert {r["run_id"] for r in listed} == {first, elsewhere.run_id}
    served.clock.advance(timedelta(seconds=1))  # newest first: a later start
    third = await start_waiting_run(served, client)
    assert (await client.get("/v1/runs")).json()[0]["run_id"] == third
