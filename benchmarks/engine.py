"""Orchestration overhead and parallel efficiency of the local engine.

Prints, with the scripted model:

1. overhead per task of a 200-task chain at zero model latency, with the SQLite event log in its
   default durability (safe against the process being killed), in full-fsync durability, and
   with an in-memory SQLite store;
2. wall time of a 100-way fan-out whose model calls each take 100 ms, against 100 ms;
3. wall time of a 500-task layered DAG (25 layers of 20, 10 ms per call) against its 250 ms
   critical path.

Run: ``python benchmarks/engine.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Literal

from podium import Agent, ScriptedModel, SqliteStore, Task, Workflow
from podium.engine import LocalEngine


def chain(n: int) -> Workflow:
    tasks = [Task(id="t0", agent="worker", instruction="step 0")]
    tasks += [
        Task(id=f"t{i}", agent="worker", instruction=f"step {i}", needs=(f"t{i - 1}",))
        for i in range(1, n)
    ]
    return Workflow(
        name=f"chain-{n}", agents=[Agent(name="worker")], tasks=tasks, max_concurrency=n
    )


def fan_out(n: int) -> Workflow:
    tasks = [Task(id=f"t{i}", agent="worker", instruction=f"part {i}") for i in range(n)]
    return Workflow(
        name=f"fan-out-{n}", agents=[Agent(name="worker")], tasks=tasks, max_concurrency=n
    )


def layered(layers: int, width: int) -> Workflow:
    tasks: list[Task] = []
    for layer in range(layers):
        for i in range(width):
            needs: Sequence[str] = ()
            if layer:
                needs = (f"l{layer - 1}_{i}", f"l{layer - 1}_{(i + 1) % width}")
            tasks.append(
                Task(id=f"l{layer}_{i}", agent="worker", instruction="x", needs=tuple(needs))
            )
    return Workflow(
        name=f"layered-{layers}x{width}",
        agents=[Agent(name="worker")],
        tasks=tasks,
        max_concurrency=layers * width,
        output=tasks[-1].id,
    )


async def timed(workflow: Workflow, store: SqliteStore, latency: timedelta) -> float:
    model = ScriptedModel(lambda _: "ok", latency=latency)
    engine = LocalEngine(store=store, model=model)
    started = time.perf_counter()
    result = await engine.execute(workflow)
    elapsed = time.perf_counter() - started
    assert result.ok, result.error
    return elapsed


async def measure(
    workflow: Workflow,
    latency: timedelta,
    durability: Literal["normal", "full", "memory"],
    repeat: int,
) -> float:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        path = ":memory:" if durability == "memory" else Path(tmp) / "bench.db"
        store = SqliteStore(path, durability="full" if durability == "full" else "normal")
        await timed(workflow, store, latency)  # warm-up: imports, caches, table creation
        for _ in range(repeat):
            times.append(await timed(workflow, store, latency))
        await store.aclose()
    return statistics.median(times)


async def main(repeat: int) -> None:
    n = 200
    flow = chain(n)
    for durability in ("normal", "full", "memory"):
        wall = await measure(flow, timedelta(0), durability, repeat)  # type: ignore[arg-type]
        print(
            f"chain of {n}, zero latency, store {durability:>6}: {wall * 1000:8.1f} ms total, "
            f"{wall / n * 1000:.3f} ms per task"
        )
    wall = await measure(fan_out(100), timedelta(milliseconds=100), "normal", repeat)
    print(f"100-way fan-out, 100 ms calls: {wall * 1000:.1f} ms = {wall / 0.1:.3f} x 100 ms")
    wall = await measure(layered(25, 20), timedelta(milliseconds=10), "normal", repeat)
    print(
        f"500-task layered DAG (25 x 20), 10 ms calls: {wall * 1000:.1f} ms "
        f"= {wall / 0.25:.3f} x its 250 ms critical path"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    asyncio.run(main(parser.parse_args().repeat))
