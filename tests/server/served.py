"""Helpers of the server tests: a real server on a loopback port, and an SSE reader.

``serving`` starts uvicorn on 127.0.0.1 (a port the OS picks) in the test's own event loop,
over a fresh SQLite store, with a ``ManualClock`` so approval deadlines move only when a test
says. ``sse_events`` reads a server-sent event stream as a real client would.
"""

from __future__ import annotations

import asyncio
import json
import socket
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from podium.server import ServerConfig, create_app
from podium.testing.clock import ManualClock

TOKEN = "test-token-9f3b2c71d5e04a8f"
DEADLINE_S = 60.0
"""Longest any one wait in these tests may take before it fails instead of hanging."""

OUTREACH = textwrap.dedent(
    """\
    name: outreach
    model: scripted
    agents:
      writer: {instructions: You write emails.}
      mailer:
        instructions: You send emails.
        approval: {reason: sends an email to a client}
    tasks:
      - {id: draft, agent: writer, instruction: "Write to the client"}
      - {id: send, agent: mailer, needs: [draft], instruction: "Send: {{ draft }}"}
      - {id: log, agent: writer, needs: [send], instruction: "Log: {{ send }}"}
    scripted:
      draft: ["Dear client, your order shipped."]
      send: ["Sent: Dear client, your order shipped."]
      log: ["Logged."]
    """
)
"""Drafts, then waits for a person to approve sending, then logs."""

CHECKOUT = textwrap.dedent(
    """\
    name: checkout
    model: scripted
    agents:
      clerk: {instructions: You ship orders.}
    signals:
      payment: {description: the payment provider confirms the payment}
    tasks:
      - {id: paid, wait: {signal: payment}}
      - {id: ship, agent: clerk, needs: [paid], instruction: "Ship {{ paid.amount }}"}
    scripted:
      ship: ["Shipped."]
    """
)
"""Waits for the payment signal, then ships."""


@dataclass
class Served:
    """A server running for one test."""

    url: str
    config: ServerConfig
    clock: ManualClock
    dir: Path

    def client(self, token: str | None = TOKEN) -> httpx.AsyncClient:
        """An HTTP client for the server; ``token=None`` sends none."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=DEADLINE_S)

    def workflow(self, text: str = OUTREACH, name: str = "outreach.yaml") -> str:
        """Write a workflow file next to the store; its path, as the API takes it."""
        path = self.dir / name
        path.write_text(text, encoding="utf-8")
        return str(path)


@asynccontextmanager
async def serving(config: ServerConfig, clock: ManualClock, where: Path) -> AsyncIterator[Served]:
    """Run the app with uvicorn on a bound loopback socket until the block ends."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = uvicorn.Config(
        create_app(config), log_level="warning", lifespan="on", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(settings)
    with sock:
        async with asyncio.TaskGroup() as group:
            group.create_task(server.serve(sockets=[sock]))
            await wait_until(lambda: server.started)
            try:
                yield Served(url=f"http://127.0.0.1:{port}", config=config, clock=clock, dir=where)
            finally:
                server.should_exit = True


async def wait_until(condition: Callable[[], bool], *, what: str = "the condition") -> None:
    """Wait (yielding to the loop) until ``condition()`` holds; fail after ``DEADLINE_S``."""
    async with asyncio.timeout(DEADLINE_S):
        while not condition():  # noqa: ASYNC110 - polls state that has no event to wait on
            await asyncio.sleep(0.005)
    assert condition(), what


async def sse_events(
    client: httpx.AsyncClient,
    path: str,
    *,
    until: Callable[[dict[str, Any]], bool],
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Read the stream at ``path`` until an event satisfies ``until``; every event read,
    each with its SSE ``id`` checked against its ``seq``."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(DEADLINE_S), client.stream("GET", path, headers=headers) as reply:
        assert reply.status_code == 200, await reply.aread()
        assert reply.headers["content-type"].startswith("text/event-stream")
        message: dict[str, str] = {}
        async for line in reply.aiter_lines():
            if line:
                field, _, value = line.partition(":")
                message[field] = value.removeprefix(" ")
                continue
            if "data" in message:
                event = json.loads(message["data"])
                if "id" in message:
                    assert int(message["id"]) == event["seq"]
                events.append(event)
                if until(event):
                    return events
            message = {}
    raise AssertionError(f"the stream ended before the awaited event; got {events}")


def is_end(status: str) -> Callable[[dict[str, Any]], bool]:
    """``until`` for ``sse_events``: the run completed with ``status``."""
    return lambda e: e["kind"] == "run_completed" and e["status"] == status


async def start_waiting_run(served: Served, client: httpx.AsyncClient) -> str:
    """Start the outreach workflow; return its id once it waits for approval of ``send``."""
    started = await client.post("/v1/runs", json={"workflow": served.workflow()})
    assert started.status_code == 202, started.text
    run_id: str = started.json()["run_id"]
    await sse_events(client, f"/v1/runs/{run_id}/events/stream", until=is_end("waiting"))
    return run_id
