"""The workloads of ``engine.py`` on plain asyncio and, if it is installed, on LangGraph.

Each framework runs through its own public API with the same fake model call
(``workloads.fake_call``); LangGraph keeps no log (no checkpointer). Plain asyncio is the floor:
what the workloads cost with no orchestration at all. LangGraph is not a podium dependency:
``pip install langgraph`` to include it.

Run: ``python benchmarks/peers.py [--repeat N]``; compare with ``python benchmarks/engine.py``
in the same minute, on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypedDict

from workloads import WORKLOADS, Workload, dag_tasks, fake_call, task_count

Runner = Callable[[Workload], Awaitable[None]]


async def plain_asyncio(workload: Workload) -> None:
    """Each task starts once its parents are done; outputs kept in a dict."""
    outputs: dict[str, str] = {}
    done: dict[str, asyncio.Event] = {}
    tasks = shape_of(workload)
    for task_id, _ in tasks:
        done[task_id] = asyncio.Event()

    async def run(task_id: str, parents: tuple[str, ...]) -> None:
        for parent in parents:
            await done[parent].wait()
        _instruction = " and ".join(outputs[p] for p in parents)
        outputs[task_id] = await fake_call(workload.latency)
        done[task_id].set()

    if workload.name == "chain":
        for task_id, parents in tasks:
            await run(task_id, parents)
        return
    async with asyncio.TaskGroup() as group:
        for task_id, parents in tasks:
            group.create_task(run(task_id, parents))


def shape_of(workload: Workload) -> list[tuple[str, tuple[str, ...]]]:
    """(task id, parents) of each task of ``workload``."""
    if workload.name == "chain":
        return [(f"t{i}", (f"t{i - 1}",) if i else ()) for i in range(workload.size)]
    return dag_tasks(*workload.shape)


def langgraph_runner() -> Runner | None:
    try:
        from langgraph.graph import END, START, StateGraph
    except ImportError:
        return None

    class State(TypedDict):
        outputs: Annotated[dict[str, str], operator.or_]

    def node(workload: Workload, task_id: str, parents: tuple[str, ...]) -> Any:
        async def run(state: State) -> dict[str, Any]:  # Any: LangGraph's state update
            _instruction = " and ".join(state["outputs"][p] for p in parents)
            return {"outputs": {task_id: await fake_call(workload.latency)}}

        return run

    def build(workload: Workload) -> Any:  # Any: a compiled LangGraph graph
        graph = StateGraph(State)
        shape = shape_of(workload)
        children = {p for _, parents in shape for p in parents}
        for task_id, parents in shape:
            graph.add_node(task_id, node(workload, task_id, parents))
            graph.add_edge(list(parents) if parents else START, task_id)
            if task_id not in children:
                graph.add_edge(task_id, END)
        return graph.compile()

    graphs: dict[str, Any] = {}

    async def run(workload: Workload) -> None:
        if workload.name not in graphs:
            graphs[workload.name] = build(workload)
        await graphs[workload.name].ainvoke(
            {"outputs": {}}, {"recursion_limit": workload.shape[0] + 10}
        )

    return run


async def measure(runner: Runner, workload: Workload, repeat: int) -> tuple[float, float]:
    await runner(workload)  # warm-up
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        await runner(workload)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


async def main(repeat: int) -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"peers, fake model, median of {repeat}; load {load}")
    runners: dict[str, Runner | None] = {
        "asyncio": plain_asyncio,
        "langgraph": langgraph_runner(),
    }
    for name, runner in runners.items():
        if runner is None:
            print(f"{name:>9}: not installed")
            continue
        for workload in WORKLOADS.values():
            wall, cpu = await measure(runner, workload, repeat)
            tasks = task_count(workload)
            if workload.ideal_s:
                speed = f"{wall / workload.ideal_s:6.3f} x ideal ({wall * 1000:7.1f} ms)"
            else:
                speed = f"{wall / tasks * 1000:6.3f} ms per task ({wall * 1000:7.1f} ms)"
            print(f"{name:>9} {workload.name:>8}: {speed}  cpu {cpu / tasks * 1000:6.3f} ms/task")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    asyncio.run(main(parser.parse_args().repeat))
