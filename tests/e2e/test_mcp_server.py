"""``podium mcp`` driven by the official MCP client, over stdio and streamable HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

GREET = (Path(__file__).parents[1] / "fixtures" / "protocols" / "greet.yaml").read_text()


@pytest.fixture
def greet(tmp_path: Path) -> Path:
    path = tmp_path / "greet.yaml"
    path.write_text(GREET, encoding="utf-8")
    return path


def podium_mcp(greet: Path, *extra: str) -> list[str]:
    store = greet.parent / "runs.db"
    return ["-m", "podium", "mcp", str(greet), "--model", "scripted", "--store", str(store), *extra]


def structured(result: Any) -> Any:
    assert not result.is_error, result.content
    return result.structured_content


async def test_an_mcp_host_runs_a_workflow_decides_its_approval_and_reads_the_run(
    greet: Path,
) -> None:
    progress: list[tuple[float, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, message))

    server = StdioServerParameters(command=sys.executable, args=podium_mcp(greet))
    async with Client(server) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"run_workflow", "run_goal", "list_approvals", "approve", "deny"} <= names

        arguments = {"workflow": "greet", "inputs": {"who": "Lan"}}
        started = await client.call_tool("run_workflow", arguments, progress_callback=on_progress)
        run = structured(started)
        assert run["status"] == "waiting" and run["waiting_for_approval"] == ["send"]
        assert progress == [(1, "draft: succeeded"), (2, "send: approval_requested")]

        (waiting,) = structured(await client.call_tool("list_approvals", {}))["result"]
        assert waiting == {
            "run_id": run["run_id"],
            "task_id": "send",
            "reason": "sends the greeting",
            "proposed": "sent to Lan",
        }
        done = structured(
            await client.call_tool("approve", {"run_id": run["run_id"], "task_id": "send"})
        )
        assert (done["status"], done["output"]) == ("succeeded", "sent to Lan")

        read = await client.read_resource(f"podium://runs/{run['run_id']}")
        text = read.contents[0].text  # type: ignore[union-attr]
        assert '"status": "succeeded"' in text and '"who": "Lan"' in text


async def test_a_denied_approval_fails_its_task_and_bad_requests_are_tool_errors(
    greet: Path,
) -> None:
    server = StdioServerParameters(command=sys.executable, args=podium_mcp(greet))
    async with Client(server) as client:
        run = structured(await client.call_tool("run_workflow", {"workflow": "greet"}))
        denial = {"run_id": run["run_id"], "task_id": "send", "reason": "not today"}
        denied = structured(await client.call_tool("deny", denial))
        assert denied["status"] == "failed"
        assert denied["tasks"]["send"]["status"] == "failed"

        unknown = await client.call_tool("run_workflow", {"workflow": "farewell"})
        assert unknown.is_error
        assert "no workflow 'farewell'; this server runs: greet" in unknown.content[0].text  # type: ignore[union-attr]
        bad_input = await client.call_tool(
            "run_workflow", {"workflow": "greet", "inputs": {"x": 1}}
        )
        assert bad_input.is_error
        assert "unknown input 'x'" in bad_input.content[0].text  # type: ignore[union-attr]


@pytest.fixture
def http_podium(greet: Path) -> Iterator[str]:
    """``podium mcp --http`` on a free port of 127.0.0.1, token ``s3cret``."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    command = [sys.executable, *podium_mcp(greet, "--http", f"127.0.0.1:{port}")]
    env = {**os.environ, "PODIUM_TOKEN": "s3cret"}
    log = (greet.parent / "server.log").open("w")
    process = subprocess.Popen(command, env=env, stderr=log)
    try:
        for _ in range(600):  # a readiness poll with a deadline, not a timing assertion
            assert process.poll() is None, (greet.parent / "server.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                subprocess.run(["sleep", "0.1"], check=True)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


async def test_over_http_with_the_token_a_host_runs_a_workflow(http_podium: str) -> None:
    async with (
        httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret"}) as http,
        Client(streamable_http_client(http_podium, http_client=http)) as client,
    ):
        run = structured(await client.call_tool("run_workflow", {"workflow": "greet"}))
        assert run["status"] == "waiting"
        (listed,) = structured(await client.call_tool("list_runs", {}))["result"]
        assert listed["run_id"] == run["run_id"]


async def test_over_http_a_request_without_the_token_is_refused(http_podium: str) -> None:
    async with httpx2.AsyncClient() as http:
        refused = await http.post(http_podium, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert refused.status_code == 401
    assert "bearer token is required" in refused.text


def test_http_without_a_token_does_not_start(greet: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PODIUM_TOKEN"}
    done = subprocess.run(
        [sys.executable, *podium_mcp(greet, "--http", "127.0.0.1:9")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "needs $PODIUM_TOKEN" in done.stderr


async def test_run_goal_plans_the_goal_on_the_team_and_reports_each_step(greet: Path) -> None:
    progress: list[str | None] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    server = StdioServerParameters(command=sys.executable, args=podium_mcp(greet))
    async with Client(server) as client:
        goal = {"goal": "Compare e-bike makers in Vietnam"}
        run = structured(await client.call_tool("run_goal", goal, progress_callback=on_progress))
    assert run["status"] == "succeeded"
    assert isinstance(run["output"]["answer"], str) and run["output"]["claims"]
    assert progress[0] == "plan/planner: succeeded" and progress[-1] == "answer: succeeded"
