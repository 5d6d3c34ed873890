"""The server under load, on loopback: requests per second for ``GET /v1/runs``, and how long
an event takes from its commit to the clients of 50 concurrent event streams.

Run with ``python benchmarks/server.py`` (needs the ``server`` extra). The server is
``podium serve`` in its own process over a store seeded with runs (through the public API);
the load comes from this process with httpx. An event's latency is the time it is received
minus its ``at`` (stamped just before it is committed), on the same machine's clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path
from typing import Final

import httpx

import podium

TOKEN: Final = "benchmark-token"
RUNS: Final = 50
"""Runs in the store when ``GET /v1/runs`` is measured (each lists them all)."""
REQUESTS: Final = 400
CONCURRENCY: Final = 8
STREAMS: Final = 50
STEPS: Final = 30
"""Tasks the streamed run executes after its approval (each adds about 4 events)."""

WORKFLOW: Final = textwrap.dedent(
    """\
    name: streamed
    model: {provider: scripted, latency: 0.02}
    agents:
      gate: {instructions: You ask first., approval: {reason: start the stream}}
      writer: {instructions: You write.}
    tasks:
      - {id: go, agent: gate, instruction: Go}
    """
) + "".join(
    f"  - {{id: s{n}, agent: writer, needs: [{'go' if n == 1 else f's{n - 1}'}],"
    f" instruction: Step {n}}}\n"
    for n in range(1, STEPS + 1)
)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _seed(store: Path, flow: Path) -> None:
    for _ in range(RUNS):
        await podium.arun(flow, model="scripted", store=store)


def _serve(store: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PODIUM_STORE": str(store), "PODIUM_TOKEN": TOKEN}
    process = subprocess.Popen(
        [sys.executable, "-m", "podium", "serve", "--port", "0", "--log-level", "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("dashboard:"):
            return process, line.split()[1].partition("/#")[0]
    raise RuntimeError("podium serve did not start")


async def _requests_per_second(client: httpx.AsyncClient) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(REQUESTS):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            queue.get_nowait()
            started = time.perf_counter()
            reply = await client.get("/v1/runs", params={"limit": RUNS})
            latencies.append(time.perf_counter() - started)
            assert reply.status_code == 200
            assert len(reply.json()) >= RUNS

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(CONCURRENCY):
            group.create_task(worker())
    return REQUESTS / (time.perf_counter() - started), latencies


async def _listen(
    client: httpx.AsyncClient, run_id: str, after: int, ready: asyncio.Event, out: list[float]
) -> None:
    """Follow the run's stream from ``after`` until it ends; record each event's latency."""
    path = f"/v1/runs/{run_id}/events/stream"
    async with client.stream("GET", path, params={"after": after}) as reply:
        ready.set()
        async for line in reply.aiter_lines():
            if not line.startswith("data:"):
                continue
            received = time.time()
            event = json.loads(line[5:])
            out.append(received - datetime.fromisoformat(event["at"]).timestamp())
            if event["kind"] == "run_completed":
                return


async def _waiting(client: httpx.AsyncClient, run_id: str) -> int:
    """Follow the run until it waits for its approval; the seq of that event."""
    async with client.stream("GET", f"/v1/runs/{run_id}/events/stream") as reply:
        async for line in reply.aiter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                if event["kind"] == "run_completed":
                    return int(event["seq"])
    raise RuntimeError("the run did not stop to wait")


async def _stream_latency(client: httpx.AsyncClient, flow: Path) -> list[float]:
    started = (await client.post("/v1/runs", json={"workflow": str(flow)})).json()
    run_id = started["run_id"]
    last = await _waiting(client, run_id)
    latencies: list[float] = []
    readies = [asyncio.Event() for _ in range(STREAMS)]
    async with asyncio.timeout(120), asyncio.TaskGroup() as group:
        for ready in readies:
            group.create_task(_listen(client, run_id, last, ready, latencies))
        for ready in readies:
            await ready.wait()
        await client.post(f"/v1/runs/{run_id}/approvals/go", json={"approve": True})
    return latencies


async def main() -> None:
    """Seed a store, start the server, print the figures."""
    with tempfile.TemporaryDirectory() as folder:
        store, flow = Path(folder) / "runs.db", Path(folder) / "streamed.yaml"
        plain = Path(folder) / "plain.yaml"
        flow.write_text(WORKFLOW, encoding="utf-8")
        plain.write_text(WORKFLOW.replace(", approval: {reason: start the stream}", ""), "utf-8")
        await _seed(store, plain)
        process, url = _serve(store)
        limits = httpx.Limits(max_connections=STREAMS + CONCURRENCY + 4)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        try:
            async with httpx.AsyncClient(
                base_url=url, headers=headers, limits=limits, timeout=60
            ) as client:
                rate, took = await _requests_per_second(client)
                lags = await _stream_latency(client, flow)
        finally:
            process.terminate()
            process.wait(timeout=30)
    load = os.getloadavg()[0]
    print(f"loopback, {os.cpu_count()} cores, load average {load:.1f} at the end")
    print(f"GET /v1/runs?limit={RUNS} ({RUNS} runs of {STEPS + 1} tasks), {CONCURRENCY} clients:")
    print(f"  {rate:,.0f} requests/s; latency p50 {1e3 * statistics.median(took):.1f} ms,"
          f" p95 {1e3 * _percentile(took, 0.95):.1f} ms")  # fmt: skip
    per_stream = len(lags) / STREAMS
    print(f"event stream, {STREAMS} concurrent clients, {per_stream:.0f} events each:")
    print(f"  commit -> client p50 {1e3 * statistics.median(lags):.1f} ms,"
          f" p95 {1e3 * _percentile(lags, 0.95):.1f} ms, max {1e3 * max(lags):.1f} ms")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
