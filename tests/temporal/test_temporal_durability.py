"""A run outlives its worker: 200 tasks over two ``podium worker`` processes, one killed with
SIGKILL mid-run, and the run finishes on the other with the same result as a local run; no task
succeeded twice and no completed model call was made again (the event log says so).

The kill lands mid-run without racing latency: twenty tasks call a tool that waits for a file
the test creates, and the test kills a worker only once Temporal holds the heartbeat of each
of those attempts, with the model call it completed before the tool.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.client import Client

import podium
from podium.event import Event

pytestmark = pytest.mark.slow

WorkerStarter = Callable[[podium.TemporalTarget, str, Path], subprocess.Popen[bytes]]
"""The ``start_worker`` fixture."""

LAYERS, WIDTH, GATED = 10, 20, 5
"""A layered DAG of 200 tasks; the tasks of layer ``GATED`` wait at the gate."""
_WAIT_S = 240.0

TOOLS = '''\
"""The gate: a tool that holds its task until the test opens it."""

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from podium import tool
from podium.tool import ToolContext

HERE = Path(__file__).parent


@tool(timeout=timedelta(minutes=10))
async def wait_gate(name: str, context: ToolContext) -> str:
    """Wait until the test opens the gate."""
    (HERE / "entered" / f"{context.run_id}.{name}.{os.getpid()}").touch()
    while not (HERE / "open").exists():
        await asyncio.sleep(0.05)
    return f"{name} passed the gate"
'''


def flow_yaml() -> str:
    lines = [
        "name: durable",
        "agents:",
        "  plain:",
        "    description: Does a step.",
        "  gated:",
        "    description: Waits at the gate, then does a step.",
        '    tools: ["gate_tools:wait_gate"]',
        "tasks:",
    ]
    scripted = ["scripted:"]
    for layer in range(LAYERS):
        for i in range(WIDTH):
            task = f"l{layer}_{i}"
            agent = "gated" if layer == GATED else "plain"
            lines += [f"  - id: {task}", f"    agent: {agent}"]
            if layer:
                parents = (f"l{layer - 1}_{i}", f"l{layer - 1}_{(i + 1) % WIDTH}")
                lines += [f"    needs: [{', '.join(parents)}]"]
                lines += [f'    instruction: "{task} from {{{{ {parents[0]} }}}}"']
            else:
                lines += [f"    instruction: {task}"]
            if layer == GATED:
                call = f'{{tool_call: {{name: wait_gate, arguments: {{name: "{task}"}}}}}}'
                scripted += [f"  {task}:", f"    - {call}", f'    - "{task} done"']
    return "\n".join([*lines, f"output: l{LAYERS - 1}_0", *scripted]) + "\n"


def run_podium(*args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "podium", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def entered_markers(entered: Path) -> list[str]:
    return sorted(p.name for p in entered.iterdir())


async def wait_for_entered(entered: Path) -> list[str]:
    """The markers of the gated attempts, once all of them wait at the gate."""
    async with asyncio.timeout(_WAIT_S):
        while True:
            markers = entered_markers(entered)
            if len(markers) >= WIDTH:
                return markers
            await asyncio.sleep(0.2)


async def wait_for_heartbeats(client: Client, run_id: str) -> None:
    """Until Temporal holds, for each gated attempt, a heartbeat with its model call."""
    handle = client.get_workflow_handle(f"podium-{run_id}")
    async with asyncio.timeout(_WAIT_S):
        while True:
            pending = (await handle.describe()).raw_description.pending_activities
            beats = [
                a
                for a in pending
                if a.activity_type.name == "podium.attempt"
                and b"model_called" in b"".join(p.data for p in a.heartbeat_details.payloads)
            ]
            if len(beats) >= WIDTH:
                return
            await asyncio.sleep(0.5)


async def retried_attempts(client: Client, run_id: str) -> int:
    """How many attempt activities Temporal started again (their worker died)."""
    history = await client.get_workflow_handle(f"podium-{run_id}").fetch_history()
    return sum(
        1
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.attempt > 1
    )


def story(events: list[Event]) -> dict[str | None, list[str]]:
    told: dict[str | None, list[str]] = {}
    for event in events:
        told.setdefault(getattr(event, "task_id", None), []).append(event.kind)
    return told


def outputs(events: list[Event]) -> dict[str, object]:
    return {e.task_id: e.output for e in events if e.kind == "task_succeeded"}


async def test_a_run_survives_a_killed_worker(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str, start_worker: WorkerStarter
) -> None:
    (tmp_path / "gate_tools.py").write_text(TOOLS, encoding="utf-8")
    (tmp_path / "entered").mkdir()
    path = tmp_path / "durable.yaml"
    path.write_text(flow_yaml(), encoding="utf-8")
    workers = [start_worker(target, postgres_url, tmp_path / f"worker{n}.log") for n in (1, 2)]
    command = ["run", str(path), "--engine", "temporal", "--model", "scripted", "--json"]
    command += ["--temporal-address", target.address, "--task-queue", target.task_queue]
    command += ["--store", postgres_url]
    try:
        run = run_podium(*command)
        markers = await wait_for_entered(tmp_path / "entered")
        run_id = markers[0].split(".")[0]
        client = await Client.connect(target.address)
        await wait_for_heartbeats(client, run_id)
        pids = Counter(int(m.rsplit(".", 1)[1]) for m in markers)
        victim = next(w for w in workers if w.pid == pids.most_common(1)[0][0])
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        (tmp_path / "open").touch()
        out, err = await asyncio.to_thread(run.communicate, timeout=_WAIT_S)
        assert run.returncode == 0, err.decode()[-2000:]
    finally:
        for process in workers:
            process.kill()
            process.wait(timeout=30)
    async with podium.opened_store(postgres_url) as store:
        events = await store.read(podium.RunId(run_id))
    local = await podium.arun(path, model="scripted", store=tmp_path / "local.db")

    assert local.status == "succeeded" and events[-1].kind == "run_completed"
    assert run_id in out.decode()
    assert outputs(events) == outputs(list(local.events))  # the same result, task by task
    assert story(events) == story(list(local.events))  # the same calls, in the same order
    succeeded = Counter(e.task_id for e in events if e.kind == "task_succeeded")
    assert len(succeeded) == LAYERS * WIDTH and set(succeeded.values()) == {1}
    calls = Counter(e.task_id for e in events if e.kind == "model_called")
    assert all(calls[f"l{GATED}_{i}"] == 2 for i in range(WIDTH))  # one tool call, one answer
    assert await retried_attempts(client, run_id) >= 1  # the kill did land mid-attempt
