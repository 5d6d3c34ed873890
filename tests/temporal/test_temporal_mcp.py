"""MCP tools on Temporal: each worker opens the servers a workflow file declares when an
attempt first needs them, shares them across attempts and runs, and stops them when it stops.

A real dev server, an in-process worker, PostgreSQL, the real ``mcp-server-time`` (started by
``sh``, which writes the server's pid to a file first, so a test counts the starts and sees
the process); the agents are scripted. Runs are held on what the test controls (an approval).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import podium
from podium.event import ApprovalGranted, ToolCalled
from podium.ids import TaskId

TIME = """\
name: clock
mcp_servers:
  time: SERVER
agents:
  clerk:
    description: Tells the time.
    tools: TOOLS
    policy: {retry: {max_attempts: 3, initial_backoff: 0, jitter: false, retry_on: [server]}}
tasks:
  - id: tell
    agent: clerk
    instruction: Tell the time
output: tell
scripted:
  tell: SCRIPT
"""

KILLER = '''\
import os
import signal
from pathlib import Path

from podium import tool


@tool
def kill_time_server() -> str:
    """Kill the time server."""
    pids = Path(__file__).parent / "pids"
    os.kill(int(pids.read_text().split()[-1]), signal.SIGKILL)
    return "killed"
'''


def call(name: str, **arguments: str) -> dict[str, Any]:
    return {"tool_call": {"name": name, "arguments": arguments}}


def time_server(directory: Path, **more: Any) -> dict[str, Any]:
    """``mcp-server-time``, its pid appended to ``directory/pids`` at each start."""
    pids = directory / "pids"
    started = f'echo $$ >> "{pids}"; exec "{sys.executable}" -m mcp_server_time'
    return {"command": "sh", "args": ["-c", started], **more}


def write_flow(
    directory: Path, server: dict[str, Any], tools: list[str], script: list[Any]
) -> Path:
    """The clock workflow in ``directory`` (JSON is YAML: the values are written as JSON)."""
    text = TIME.replace("SERVER", json.dumps(server)).replace("TOOLS", json.dumps(tools))
    path = directory / "clock.yaml"
    path.write_text(text.replace("SCRIPT", json.dumps(script)), encoding="utf-8")
    return path


def starts(directory: Path) -> list[int]:
    """The pids of the time server's starts, in order."""
    return [int(pid) for pid in (directory / "pids").read_text().split()]


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def told(result: podium.RunResult) -> list[tuple[str | None, str]]:
    """The log's kinds by task, and its tool calls without their results (the time differs)."""
    kinds = [(getattr(e, "task_id", None), e.kind) for e in result.events]
    calls = [(c.tool, json.dumps(c.arguments), str(c.error)) for c in tools_called(result)]
    return [*kinds, *[(None, str(c)) for c in calls]]


def tools_called(result: podium.RunResult) -> list[ToolCalled]:
    return [e for e in result.events if isinstance(e, ToolCalled)]


async def test_a_worker_shares_one_server_across_runs_and_logs_what_a_local_run_logs(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str
) -> None:
    script = [call("get_current_time", timezone="UTC"), "It is now."]
    path = write_flow(tmp_path, time_server(tmp_path), ["mcp:time/*"], script)
    async with asyncio.TaskGroup() as tasks:
        worker = tasks.create_task(podium.serve_worker(target, store=postgres_url))
        runs = [
            await podium.run_on_temporal(
                path, temporal=target, store=postgres_url, model="scripted"
            )
            for _ in range(2)
        ]
        (pid,) = starts(tmp_path)  # one start for both runs
        assert is_alive(pid)
        worker.cancel()
    assert not is_alive(pid)  # stopped with the worker
    local = await podium.arun(path, model="scripted", store=tmp_path / "local.db")

    assert [r.status for r in runs] == ["succeeded", "succeeded"] == [local.status] * 2
    assert told(runs[0]) == told(runs[1]) == told(local)
    assert [c.error for c in tools_called(local)] == [None]
    assert "UTC" in str(tools_called(runs[0])[0].result)


async def test_an_mcp_tool_waits_for_its_approval_on_temporal_then_runs_once(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str
) -> None:
    script = [call("get_current_time", timezone="UTC"), "It is now."]
    server = time_server(tmp_path, approval=["get_current_time"])
    path = write_flow(tmp_path, server, ["mcp:time/*"], script)
    async with asyncio.TaskGroup() as tasks:
        worker = tasks.create_task(podium.serve_worker(target, store=postgres_url))
        running = tasks.create_task(
            podium.run_on_temporal(path, temporal=target, store=postgres_url, model="scripted")
        )
        run_id = await wait_for_approval(postgres_url, TaskId("tell"))
        await podium.approve(run_id, "tell", by="ana", store=postgres_url)
        result = await running
        worker.cancel()

    assert result.status == "succeeded", result.error
    (granted,) = [e for e in result.events if isinstance(e, ApprovalGranted)]
    assert granted.by == "ana"
    (called,) = tools_called(result)
    assert called.tool == "get_current_time" and called.error is None


async def wait_for_approval(store: str, task_id: TaskId) -> str:
    """The id of the run that waits for an approval of ``task_id``, once it does."""
    async with asyncio.timeout(180):
        while True:
            for summary in await podium.list_runs(store=store):
                state = await podium.get_run(summary.run_id, store=store)
                if task_id in state.approvals:
                    return summary.run_id
            await asyncio.sleep(0.1)


async def test_a_server_that_died_is_started_again_for_the_next_attempt(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str
) -> None:
    module = f"killer_{tmp_path.name[-8:].replace('-', '_')}"  # imported once per process
    (tmp_path / f"{module}.py").write_text(KILLER, encoding="utf-8")
    script = [
        call("get_current_time", timezone="UTC"),
        call("kill_time_server"),
        call("get_current_time", timezone="Europe/Paris"),  # the server is dead: attempt fails
        call("get_current_time", timezone="Europe/Paris"),  # the retry, on a server started again
        "It is now.",
    ]
    tools = ["mcp:time/*", f"{module}:kill_time_server"]
    path = write_flow(tmp_path, time_server(tmp_path), tools, script)
    async with asyncio.TaskGroup() as tasks:
        worker = tasks.create_task(podium.serve_worker(target, store=postgres_url))
        result = await podium.run_on_temporal(
            path, temporal=target, store=postgres_url, model="scripted"
        )
        worker.cancel()

    assert result.status == "succeeded", result.error
    assert len(starts(tmp_path)) == 2  # at the first attempt, then again for the retry
    errors = [c.error for c in tools_called(result)]
    assert "MCP server 'time' died during get_current_time" in str(errors[2])
    assert [errors[i] for i in (0, 1, 3)] == [None, None, None]
    assert [e.kind for e in result.events].count("task_retried") == 1


async def test_a_server_the_worker_cannot_start_fails_the_attempt_naming_both(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str
) -> None:
    crash = "import sys; print('cannot open the index', file=sys.stderr); sys.exit(3)"
    server = {"command": sys.executable, "args": ["-c", crash]}
    path = write_flow(tmp_path, server, ["mcp:time"], [])
    path.write_text(path.read_text().replace("max_attempts: 3", "max_attempts: 1"))
    async with asyncio.TaskGroup() as tasks:
        worker = tasks.create_task(podium.serve_worker(target, store=postgres_url))
        result = await podium.run_on_temporal(
            path, temporal=target, store=postgres_url, model="scripted"
        )
        worker.cancel()

    assert result.status == "failed"
    error = result.tasks[TaskId("tell")].error or ""
    assert "MCP server 'time' did not start" in error
    assert "cannot open the index" in error
    assert f"on worker {os.getpid()}@{socket.gethostname()}" in error
