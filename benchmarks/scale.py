"""Scale: a team of 500 agents on a generated 10,000-task DAG, and a store of 10,000 runs.

Prints, through the public API with a fake model at zero latency:

1. the big run: wall time, events per second, peak RSS of its process and the size of its log;
2. with the store holding ``--runs`` runs (the big one and small three-task runs), the wall
   time of ``podium runs`` (and ``--status failed``, which no run is), ``podium show RUN`` and
   ``podium show PREFIX`` of a small run, and ``podium show`` (summarised: a large run) and
   ``podium show --json`` of the big one, as a user types them (start-up included).

Run: ``python benchmarks/scale.py [--agents 500] [--tasks 10000] [--runs 10000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from engine import FakeModel

import podium


def big_flow(agents: int, tasks: int, seed: int = 7) -> podium.Workflow:
    """``tasks`` tasks in layers of 100; each needs two tasks of the layer above and reads
    their outputs; task ``i`` is done by agent ``i % agents``."""
    rng = random.Random(seed)
    width = 100
    nodes: list[podium.Task] = []
    for i in range(tasks):
        layer = i // width
        parents: tuple[str, ...] = ()
        if layer:
            above = range((layer - 1) * width, layer * width)
            parents = tuple(sorted({f"t{p}" for p in rng.sample(above, 2)}))
        instruction = " and ".join(f"{{{{ {p} }}}}" for p in parents) or f"start {i}"
        nodes.append(
            podium.Task(id=f"t{i}", agent=f"a{i % agents}", instruction=instruction, needs=parents)
        )
    team = [podium.Agent(name=f"a{i}", description=f"agent {i}") for i in range(agents)]
    return podium.Workflow(name="scale", agents=team, tasks=nodes, output=nodes[-1].id)


def small_flow() -> podium.Workflow:
    tasks = [
        podium.Task(id="a", agent="w", instruction="research"),
        podium.Task(id="b", agent="w", instruction="draft from {{ a }}", needs=("a",)),
        podium.Task(id="c", agent="w", instruction="edit {{ b }}", needs=("b",)),
    ]
    return podium.Workflow(name="small", agents=[podium.Agent(name="w")], tasks=tasks)


def big_run(agents: int, tasks: int) -> dict[str, float | str]:
    """Run the big workflow in this process with the default store; its figures."""
    flow = big_flow(agents, tasks)
    started = time.perf_counter()
    result = podium.run(flow, model=FakeModel(timedelta(0)))
    wall = time.perf_counter() - started
    assert result.ok, result.error
    return {
        "run_id": result.run_id,
        "wall_s": wall,
        "events": len(result.events),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


async def fill(store_path: Path, runs: int) -> str:
    """Record ``runs`` small runs in the store; the id of the last."""
    flow, model = small_flow(), FakeModel(timedelta(0))
    async with podium.SqliteStore(store_path) as store:
        for _ in range(runs):
            result = await podium.arun(flow, model=model, store=store)
            assert result.ok, result.error
    return result.run_id


def command_seconds(args: list[str], env: dict[str, str], times: int = 3) -> float:
    """Best wall time of ``podium ARGS`` (the best of a few: start-up is noisy when loaded)."""
    script = Path(sys.executable).with_name("podium")
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "podium"]
    walls = []
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run([*cli, *args], env=env, capture_output=True, check=True)
        walls.append(time.perf_counter() - started)
    return min(walls)


def main(agents: int, tasks: int, runs: int) -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"scale, fake model at zero latency; load {load}")
    with tempfile.TemporaryDirectory() as tmp:
        store_path = Path(tmp) / "podium.db"
        env = {**os.environ, "PODIUM_STORE": str(store_path)}
        child = [sys.executable, __file__, "--child", str(agents), str(tasks)]
        out = subprocess.run(child, env=env, capture_output=True, text=True, check=True).stdout
        big = json.loads(out)
        size = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
        print(
            f"{agents} agents, {tasks} tasks: {big['wall_s']:.1f} s, {big['events']} events, "
            f"{big['events'] / big['wall_s']:.0f} events/s, peak RSS {big['peak_rss_mb']:.0f} MB, "
            f"log {size:.1f} MB"
        )
        started = time.perf_counter()
        small = asyncio.run(fill(store_path, runs - 1))
        print(f"recorded {runs - 1} more runs in {time.perf_counter() - started:.0f} s")
        commands = (
            ["runs"],
            ["runs", "--status", "failed"],
            ["show", small],
            ["show", small[:8]],
            ["show", big["run_id"]],
            ["show", "--json", big["run_id"]],
        )
        for args in commands:
            wall = command_seconds(args, env)
            print(f"podium {' '.join(args)} over {runs} runs: {wall:.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(big_run(*args.child)))
    else:
        main(args.agents, args.tasks, args.runs)
