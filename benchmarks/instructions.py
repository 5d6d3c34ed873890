"""CPU instructions per task of the chain workload, counted by valgrind's callgrind.

Wall and CPU time per task swing by tens of percent on a shared machine; an instruction count
does not. This runs ``engine.py``'s chain (200 agent tasks in a line, zero model latency,
through ``podium.arun``) under ``valgrind --tool=callgrind`` twice per store, once with the
measured run and once without it (the same imports and warm-up run), and prints the
difference divided by the tasks: the instructions one task costs, bookkeeping included
(validation, events, the store, the fold). Compare two commits by running it on each.
String hashing is seeded the same in every run (``PYTHONHASHSEED=0``): with random seeds the
count of one commit varies by some 3% from run to run, as dictionaries probe differently.

Run: ``python benchmarks/instructions.py [--tasks 200]`` (needs valgrind; takes about a minute
per store, as callgrind runs Python some 50 times slower).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from engine import chain_flow, one_run
from workloads import WORKLOADS


def count(store: str, tasks: int) -> int:
    """Instructions of this script's child process doing a warm-up and ``tasks`` tasks."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            store,
            str(tasks),
        ]
        env = {**os.environ, "PODIUM_STORE": str(Path(tmp) / "podium.db"), "PYTHONHASHSEED": "0"}
        done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    collected = re.search(r"Collected : (\d+)", done.stderr)
    assert collected is not None, done.stderr[-2000:]
    return int(collected.group(1))


def child(store: str, tasks: int) -> None:
    latency = WORKLOADS["chain"].latency
    asyncio.run(one_run(chain_flow(200, 0), store, latency))  # imports, tables, caches
    if tasks:
        asyncio.run(one_run(chain_flow(tasks, 1), store, latency))


def main(tasks: int) -> None:
    print(f"chain of {tasks} tasks through podium.arun, instructions per task (callgrind)")
    # Once without valgrind, so that compiling changed sources to bytecode is not counted.
    subprocess.run([sys.executable, __file__, "--child", "memory", "1"], check=True)
    for store in ("default", "memory"):
        per_task = (count(store, tasks) - count(store, 0)) / tasks
        print(f"{store:>7}: {per_task / 1e6:.3f} M instructions per task")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
    else:
        main(args.tasks)
