"""The workloads every engine benchmark runs, whatever the framework (``engine.py``,
``peers.py``, ``scale.py``): their shapes, model latencies and ideal times."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

__all__ = ["WORKLOADS", "Workload", "dag_tasks", "fake_call", "task_count"]


@dataclass(frozen=True)
class Workload:
    name: str
    shape: tuple[int, int]
    """(layers, width): a chain is (n, 1), a fan-out (1, n)."""
    latency: timedelta
    """How long each fake model call takes."""

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def ideal_s(self) -> float:
        """The critical path: one call per layer (0 at zero latency)."""
        return self.shape[0] * self.latency.total_seconds()


WORKLOADS = {
    w.name: w
    for w in (
        Workload("chain", (200, 1), timedelta(0)),
        Workload("fan-out", (1, 100), timedelta(milliseconds=100)),
        Workload("dag", (25, 20), timedelta(milliseconds=10)),
    )
}


def task_count(workload: Workload) -> int:
    return workload.size


def dag_tasks(layers: int, width: int) -> list[tuple[str, tuple[str, ...]]]:
    """(task id, parents) of a layered DAG: each task needs two tasks of the layer above."""
    tasks: list[tuple[str, tuple[str, ...]]] = []
    for layer in range(layers):
        for i in range(width):
            parents: tuple[str, ...] = ()
            if layer:
                parents = (f"l{layer - 1}_{i}", f"l{layer - 1}_{(i + 1) % width}")
            tasks.append((f"l{layer}_{i}", parents))
    return tasks


async def fake_call(latency: timedelta) -> str:
    """What a fake model call does: wait ``latency`` (if any) and answer."""
    if latency:
        await asyncio.sleep(latency.total_seconds())
    return "ok"
