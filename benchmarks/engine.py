"""Orchestration speed through the public API (``podium.arun``), with a fake model.

Prints, for each store (``default``: the durable SQLite file ``arun`` uses when given no
store, pointed at a temporary directory with ``PODIUM_STORE``; ``memory``: an in-memory
``SqliteStore``):

1. ``chain``: 200 agent tasks in a line at zero model latency: milliseconds per task;
2. ``fan-out``: 100 tasks at once whose model calls each take 100 ms: wall time against 100 ms;
3. ``dag``: 25 layers of 20 tasks, 10 ms per call, each task's instruction reading its two
   parents' outputs: wall time against its 250 ms critical path;

each with the CPU time per task and the peak RSS of the process. Every workload runs in a
fresh process (so its peak RSS is its own): one warm-up run, then the median of ``--repeat``.
Then the time to ``import podium`` and to print ``podium --help`` (median of 5 fresh processes).
``benchmarks/peers.py`` runs the same workloads on plain asyncio and on LangGraph; ``--peers``
runs it first, so that all the figures come from one run.

Run: ``python benchmarks/engine.py [--repeat N]``; ``--profile chain`` prints where the CPU
time of one workload goes; ``--timeline`` prints when each layer of one DAG run calls its
model and how long each part of a layer takes beyond the call itself: the wait past a call's
end (the event loop sleeps in whole milliseconds, so the timers of a layer fire together,
late by up to a millisecond), the completions, their commit and the start of the next
layer's calls.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from workloads import WORKLOADS, Workload, dag_tasks, fake_call, task_count

import podium


class FakeModel:
    """A model that answers "ok" after ``latency``, keeping nothing (unlike ScriptedModel,
    which records every request)."""

    name = "fake"

    def __init__(self, latency: timedelta) -> None:
        self.latency = latency

    async def complete(self, request: podium.ModelRequest) -> podium.ModelResponse:
        return podium.ModelResponse(model="fake", text=await fake_call(self.latency))


def chain_flow(n: int, salt: int) -> podium.Workflow:
    tasks = [podium.Task(id="t0", agent="worker", instruction=f"step 0 of {salt}")]
    tasks += [
        podium.Task(
            id=f"t{i}", agent="worker", instruction=f"step {i} of {salt}", needs=(f"t{i - 1}",)
        )
        for i in range(1, n)
    ]
    return podium.Workflow(name=f"chain-{n}", agents=[podium.Agent(name="worker")], tasks=tasks)


def fan_out_flow(n: int, salt: int) -> podium.Workflow:
    tasks = [
        podium.Task(id=f"t{i}", agent="worker", instruction=f"part {i} of {salt}") for i in range(n)
    ]
    return podium.Workflow(name=f"fan-out-{n}", agents=[podium.Agent(name="worker")], tasks=tasks)


def dag_flow(layers: int, width: int, salt: int) -> podium.Workflow:
    tasks = [
        podium.Task(
            id=task_id,
            agent="worker",
            instruction=" and ".join(f"{{{{ {p} }}}}" for p in parents) + f" ({salt})",
            needs=parents,
        )
        for task_id, parents in dag_tasks(layers, width)
    ]
    return podium.Workflow(
        name=f"dag-{layers}x{width}",
        agents=[podium.Agent(name="worker")],
        tasks=tasks,
        output=tasks[-1].id,
    )


def flow_of(workload: Workload, salt: int) -> podium.Workflow:
    """The workflow of ``workload``; its instructions differ with ``salt``, so that no run
    reuses what an earlier run in the process compiled: each measures a first run."""
    if workload.name == "chain":
        return chain_flow(workload.size, salt)
    if workload.name == "fan-out":
        return fan_out_flow(workload.size, salt)
    return dag_flow(*workload.shape, salt)


async def one_run(flow: podium.Workflow, store: str, latency: timedelta) -> None:
    model = FakeModel(latency)
    if store == "memory":
        async with podium.SqliteStore(":memory:") as memory:
            result = await podium.arun(flow, model=model, store=memory)
    else:
        result = await podium.arun(flow, model=model)
    assert result.status == "succeeded", result.error


def child(workload_name: str, store: str, repeat: int) -> dict[str, float]:
    """Run one workload ``repeat`` times (after a warm-up) in this process; its figures."""
    workload = WORKLOADS[workload_name]
    asyncio.run(one_run(flow_of(workload, 0), store, workload.latency))  # imports, tables
    walls, cpus = [], []
    for salt in range(1, repeat + 1):
        flow = flow_of(workload, salt)
        cpu, wall = time.process_time(), time.perf_counter()
        asyncio.run(one_run(flow, store, workload.latency))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {
        "wall_s": statistics.median(walls),
        "cpu_s": statistics.median(cpus),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def spawn(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=True, env=env
    )
    return done.stdout


def startup_seconds(command: list[str], times: int = 5) -> float:
    """Median wall time of ``command`` in a fresh process."""
    walls = []
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def describe(workload: Workload, figures: dict[str, float]) -> str:
    wall, tasks = figures["wall_s"], task_count(workload)
    if workload.ideal_s:
        speed = f"{wall / workload.ideal_s:6.3f} x ideal ({wall * 1000:7.1f} ms)"
    else:
        speed = f"{wall / tasks * 1000:6.3f} ms per task ({wall * 1000:7.1f} ms)"
    cpu = figures["cpu_s"] / tasks * 1000
    return f"{speed}  cpu {cpu:6.3f} ms/task  peak RSS {figures['peak_rss_mb']:5.1f} MB"


def main(repeat: int) -> None:
    print(f"podium through podium.arun, fake model, median of {repeat}; load {_load()}")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PODIUM_STORE": str(Path(tmp) / "podium.db")}
        for store in ("default", "memory"):
            for workload in WORKLOADS.values():
                out = spawn(__file__, "--child", workload.name, store, str(repeat), env=env)
                print(f"{store:>7} {workload.name:>8}: {describe(workload, json.loads(out))}")
    import_s = startup_seconds([sys.executable, "-c", "import podium"])
    script = Path(sys.executable).with_name("podium")
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "podium"]
    help_s = startup_seconds([*cli, "--help"])
    print(f"import podium: {import_s:.3f} s   podium --help: {help_s:.3f} s")


def profile(workload_name: str, top: int = 30) -> None:
    workload = WORKLOADS[workload_name]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PODIUM_STORE"] = str(Path(tmp) / "podium.db")
        asyncio.run(one_run(flow_of(workload, 0), "default", workload.latency))
        flow = flow_of(workload, 1)
        profiler = cProfile.Profile()
        profiler.runcall(asyncio.run, one_run(flow, "default", workload.latency))
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


class TimedModel(FakeModel):
    """A ``FakeModel`` that notes when each call starts and ends."""

    def __init__(self, latency: timedelta) -> None:
        super().__init__(latency)
        self.calls: list[tuple[float, float]] = []

    async def complete(self, request: podium.ModelRequest) -> podium.ModelResponse:
        started = time.perf_counter()
        text = await fake_call(self.latency)
        self.calls.append((started, time.perf_counter()))
        return podium.ModelResponse(model="fake", text=text)


def timeline() -> None:
    """One DAG run (after a warm-up), layer by layer: when its calls start and end (ms from
    the start of ``arun``), then the average of each part of a layer beyond its call."""
    workload = WORKLOADS["dag"]
    layers, width = workload.shape
    latency_ms = workload.latency.total_seconds() * 1000
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PODIUM_STORE"] = str(Path(tmp) / "podium.db")
        asyncio.run(podium.arun(flow_of(workload, 0), model=FakeModel(workload.latency)))
        model = TimedModel(workload.latency)
        begun = time.perf_counter()
        result = asyncio.run(podium.arun(flow_of(workload, 1), model=model))
        wall = (time.perf_counter() - begun) * 1000
    assert result.status == "succeeded", result.error
    calls = sorted(((s - begun) * 1000, (e - begun) * 1000) for s, e in model.calls)
    rows = [calls[i * width : (i + 1) * width] for i in range(layers)]
    late, spread, finish, gap = [], [], [], []
    print(f"dag: {wall:.1f} ms, first call at {calls[0][0]:.2f} ms; per layer (ms):")
    for index, row in enumerate(rows):
        starts, ends = [s for s, _ in row], sorted(e for _, e in row)
        late.append(ends[0] - (starts[0] + latency_ms))
        spread.append(starts[-1] - starts[0])
        finish.append(ends[-1] - ends[0])
        following = rows[index + 1][0][0] if index + 1 < layers else None
        if following is not None:
            gap.append(following - ends[-1])
        print(
            f"  {index:2d}: calls start {starts[0]:7.2f} to {starts[-1]:7.2f},"
            f" end {ends[0]:7.2f} to {ends[-1]:7.2f}"
        )
    print(
        f"average: first call's end late by {statistics.mean(late):.2f}; calls end within"
        f" {statistics.mean(finish):.2f}; next layer starts {statistics.mean(gap):.2f} after"
        f" the last end; its calls start within {statistics.mean(spread):.2f}"
    )


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", choices=list(WORKLOADS))
    parser.add_argument("--peers", action="store_true", help="run benchmarks/peers.py first")
    parser.add_argument("--timeline", action="store_true", help="time one DAG run's layers")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, store, times = args.child
        print(json.dumps(child(name, store, int(times))))
    elif args.profile:
        profile(args.profile)
    elif args.timeline:
        timeline()
    else:
        if args.peers:  # in its own process: a child's peak RSS starts at its parent's
            peers = Path(__file__).with_name("peers.py")
            subprocess.run([sys.executable, peers, "--repeat", str(args.repeat)], check=True)
        main(args.repeat)
