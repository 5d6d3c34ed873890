"""The Temporal engine end to end: a real dev server, a worker, PostgreSQL; the run's log is
the same as a local run's, and it is read back through the public API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import podium

FLOW = """\
name: small_graph
agents:
  researcher:
    description: Finds facts.
  writer:
    description: Writes.
tasks:
  - id: market
    agent: researcher
    instruction: Size of the e-bike market
  - id: rules
    agent: researcher
    instruction: Rules for e-bikes
  - id: draft
    agent: writer
    instruction: "Write: {{ market }} / {{ rules }}"
    needs: [market, rules]
output: draft
scripted:
  market: ["Market grows 20%."]
  rules: ["Helmets required."]
"""


def story(result: podium.RunResult) -> dict[str | None, list[str]]:
    """The log's story by task: the kinds of each task's events, in order (concurrent tasks
    interleave differently from run to run)."""
    told: dict[str | None, list[str]] = {}
    for event in result.events:
        told.setdefault(getattr(event, "task_id", None), []).append(event.kind)
    return told


async def test_a_small_graph_runs_as_a_temporal_workflow(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW, encoding="utf-8")
    async with asyncio.TaskGroup() as tasks:
        worker = tasks.create_task(podium.serve_worker(target, store=postgres_url))
        result = await podium.run_on_temporal(
            path, temporal=target, store=postgres_url, model="scripted"
        )
        worker.cancel()
    local = await podium.arun(path, model="scripted", store=tmp_path / "local.db")

    assert result.status == local.status == "succeeded"
    assert result.output == local.output
    assert "Write: Market grows 20%. / Helmets required." in str(result.output)
    assert story(result) == story(local)
    (summary,) = await podium.list_runs(store=postgres_url)
    assert summary.run_id == result.run_id and summary.status == "succeeded"


GATED = """\
name: gated
agents:
  waiter:
    description: Waits at the gate.
    tools: ["never_open:wait_gate"]
tasks:
  - id: wait
    agent: waiter
    instruction: Wait at the gate
output: wait
scripted:
  wait:
    - {tool_call: {name: wait_gate, arguments: {}}}
    - "passed"
"""

GATE_TOOLS = '''\
import asyncio
from datetime import timedelta
from pathlib import Path

from podium import tool
from podium.tool import ToolContext

HERE = Path(__file__).parent


@tool(timeout=timedelta(minutes=10))
async def wait_gate(context: ToolContext) -> str:
    """Wait for a gate that never opens."""
    (HERE / f"{context.run_id}.entered").touch()
    while True:
        await asyncio.sleep(0.05)
'''


def entered(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.entered"))


async def wait_for_entered(directory: Path) -> str:
    """The id of the run whose task waits at the gate, once it does."""
    async with asyncio.timeout(120):
        while True:
            if markers := entered(directory):
                return markers[0].name.split(".")[0]
            await asyncio.sleep(0.1)


async def test_cancelling_the_temporal_workflow_cancels_the_run(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str
) -> None:
    (tmp_path / "never_open.py").write_text(GATE_TOOLS, encoding="utf-8")
    path = tmp_path / "gated.yaml"
    path.write_text(GATED, encoding="utf-8")
    async with asyncio.TaskGroup() as tasks:
        worker = tasks.create_task(podium.serve_worker(target, store=postgres_url))
        running = tasks.create_task(
            podium.run_on_temporal(path, temporal=target, store=postgres_url, model="scripted")
        )
        await podium.cancel_on_temporal(await wait_for_entered(tmp_path), temporal=target)
        result = await running
        worker.cancel()

    assert result.status == "cancelled"
    assert [e.kind for e in result.events][-1] == "run_completed"
    assert "task_succeeded" not in story(result)["wait"]
