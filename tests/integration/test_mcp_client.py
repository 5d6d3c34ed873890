"""MCP client: agents call the tools of real MCP servers, started and stopped with the run.

The servers are real processes: ``mcp-server-time`` from PyPI (the test extra installs it),
``@modelcontextprotocol/server-filesystem`` and ``server-memory`` from npm (installed with npm
into pytest's cache on first use; skipped, with the reason, where npm is missing), and
``tests/fixtures/mcp/ledger_server.py``, made with the official SDK, where a test must count
calls or hold one open. Agents are scripted (the workflow's ``scripted`` answers).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from listening import free_port, listening
from pydantic import JsonValue

import podium
from podium import Agent, ConfigError, Policy, RetryPolicy, Task, Workflow, tool
from podium.event import Event, ToolCalled

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mcp"
LEDGER_SERVER = FIXTURES / "ledger_server.py"
NPM_SERVERS = {
    "@modelcontextprotocol/server-filesystem": "2026.8.31",
    "@modelcontextprotocol/server-memory": "2026.8.31",
}
NO_RETRY_WAIT = RetryPolicy(max_attempts=3, initial_backoff=0, jitter=False)


def call(name: str, **arguments: JsonValue) -> dict[str, JsonValue]:
    return {"tool_call": {"name": name, "arguments": arguments}}


def flow(
    servers: dict[str, Any],
    tools: list[Any],
    script: list[JsonValue],
    *,
    policy: Policy | None = None,
) -> Workflow:
    """One task whose agent may use ``tools``; its answers are ``script``."""
    return Workflow(
        name="clerk",
        mcp_servers=servers,
        agents=[Agent(name="clerk", tools=tools, policy=policy)],
        tasks=[Task(id="work", agent="clerk", instruction="Do the work.")],
        scripted={"work": script},
    )


def tool_calls(events: list[Event]) -> list[ToolCalled]:
    return [e for e in events if isinstance(e, ToolCalled)]


def time_server(*args: str) -> dict[str, Any]:
    return {"command": sys.executable, "args": ["-m", "mcp_server_time", *args]}


def ledger_server(ledger: Path) -> dict[str, Any]:
    return {"command": sys.executable, "args": [str(LEDGER_SERVER)], "env": {"LEDGER": str(ledger)}}


async def test_an_agent_calls_mcp_server_time_with_the_servers_schemas(tmp_path: Path) -> None:
    seen: list[list[str]] = []

    @tool
    def note_tools(names: list[str]) -> str:
        """Write down tool names."""
        seen.append(names)
        return "noted"

    script: list[JsonValue] = [
        call("get_current_time", timezone="Asia/Tokyo"),
        call("convert_time", source_timezone="UTC", time="12:00", target_timezone="Asia/Tokyo"),
        "It is 21:00 in Tokyo when it is noon in UTC.",
    ]
    workflow = flow({"time": time_server("--local-timezone", "UTC")}, ["mcp:time/*"], script)
    result = await podium.arun(workflow, model="scripted", store=tmp_path / "runs.db")

    assert result.ok, result.error
    now, converted = tool_calls(result.events)
    assert now.error is None and isinstance(now.result, dict)
    assert now.result["timezone"] == "Asia/Tokyo"
    assert str(now.result["datetime"]).endswith("+09:00")
    assert isinstance(converted.result, dict)
    target = converted.result["target"]
    assert isinstance(target, dict) and str(target["datetime"]).endswith("T21:00:00+09:00")


async def test_the_model_sees_the_servers_json_schemas() -> None:
    from podium.protocols.mcp.client import serve_tools

    workflow = flow({"time": time_server()}, ["mcp:time/get_current_time"], [])
    async with serve_tools(workflow) as bound:
        (clerk,) = bound.agents
        (spec,) = [t.spec for t in clerk.tools]
    assert spec.name == "get_current_time"
    properties = spec.parameters["properties"]
    assert isinstance(properties, dict) and "timezone" in properties
    assert spec.parameters["required"] == ["timezone"]


async def test_a_server_killed_mid_run_is_started_again_for_the_retry(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    server = {
        "command": "sh",
        "args": ["-c", f'echo $$ >> "{pids}"; exec "{sys.executable}" -m mcp_server_time'],
    }

    @tool
    def kill_time_server() -> str:
        """Kill the time server."""
        os.kill(int(pids.read_text().split()[-1]), signal.SIGKILL)
        return "killed"

    script: list[JsonValue] = [
        call("get_current_time", timezone="UTC"),
        call("kill_time_server"),
        call("get_current_time", timezone="Europe/Paris"),  # the server is dead: attempt fails
        call("get_current_time", timezone="Europe/Paris"),  # the retry, on a server started again
        "It is now.",
    ]
    policy = Policy(retry=NO_RETRY_WAIT.model_copy(update={"retry_on": ("server",)}))
    workflow = flow({"time": server}, ["mcp:time/*", kill_time_server], script, policy=policy)
    result = await podium.arun(workflow, model="scripted", store=tmp_path / "runs.db")

    assert result.ok, result.error
    assert len(pids.read_text().split()) == 2  # started with the run, then again for the retry
    errors = [c.error for c in tool_calls(result.events)]
    assert errors[:2] == [None, None] and errors[3] is None
    assert "MCP server 'time' died during get_current_time" in str(errors[2])
    assert [e.kind for e in result.events].count("task_retried") == 1  # retry_on: [server]


async def test_a_resumed_run_repeats_no_completed_mcp_call(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"

    @tool(approval=True)
    def publish() -> str:
        """Publish the ledger."""
        return "published"

    script: list[JsonValue] = [call("record", entry="paid 40 EUR"), call("publish")]
    workflow = flow({"ledger": ledger_server(ledger)}, ["mcp:ledger/record", publish], script)
    store = tmp_path / "runs.db"
    waiting = await podium.arun(workflow, model="scripted", store=store)
    assert waiting.status == "waiting"  # in the middle of the task, on publish's approval
    assert ledger.read_text() == "paid 40 EUR\n"

    await podium.approve(waiting.run_id, "work", by="ana", store=store)
    rest = workflow.model_copy(update={"scripted": {"work": ["Recorded and published."]}})
    done = await podium.resume(waiting.run_id, rest, store=store)

    assert done.ok, done.error
    assert ledger.read_text() == "paid 40 EUR\n"  # the completed call was not made again
    assert [c.tool for c in tool_calls(done.events)] == ["record", "publish"]


async def test_a_tool_error_fails_the_attempt_without_a_retry(tmp_path: Path) -> None:
    script: list[JsonValue] = [call("refuse", reason="closed on Sundays")]
    policy = Policy(retry=NO_RETRY_WAIT)
    workflow = flow(
        {"ledger": ledger_server(tmp_path / "l")}, ["mcp:ledger/*"], script, policy=policy
    )
    result = await podium.arun(workflow, model="scripted", store=tmp_path / "runs.db")

    assert result.status == "failed"
    assert "MCP tool ledger/refuse failed" in (result.tasks["work"].error or "")
    assert "refused: closed on Sundays" in (result.tasks["work"].error or "")
    assert not [e for e in result.events if e.kind == "task_retried"]  # kind 'tool'


async def test_a_call_past_the_servers_timeout_is_retried_as_a_timeout(tmp_path: Path) -> None:
    never = tmp_path / "never-created"
    server = {**ledger_server(tmp_path / "l"), "timeout": "1s"}
    script: list[JsonValue] = [call("wait_for", path=str(never))] * 2
    policy = Policy(retry=NO_RETRY_WAIT.model_copy(update={"max_attempts": 2}))
    workflow = flow({"ledger": server}, ["mcp:ledger/wait_for"], script, policy=policy)
    result = await podium.arun(workflow, model="scripted", store=tmp_path / "runs.db")

    assert result.status == "failed"
    assert "did not finish within 1s" in (result.tasks["work"].error or "")
    assert len([e for e in result.events if e.kind == "task_retried"]) == 1


async def test_a_server_that_does_not_start_is_a_clear_error(tmp_path: Path) -> None:
    crash = "import sys; print('cannot open the index', file=sys.stderr); sys.exit(3)"
    workflow = flow(
        {"index": {"command": sys.executable, "args": ["-c", crash]}}, ["mcp:index"], []
    )
    with pytest.raises(
        ConfigError, match=r"MCP server 'index' did not start.*cannot open the index"
    ):
        await podium.arun(workflow, model="scripted", store=tmp_path / "runs.db")


async def test_a_reference_matching_no_tool_says_what_the_server_offers(tmp_path: Path) -> None:
    workflow = flow({"time": time_server()}, ["mcp:time/get_weather"], [])
    with pytest.raises(ConfigError, match=r"matches no tool .*offers: .*get_current_time"):
        await podium.arun(workflow, model="scripted", store=tmp_path / "runs.db")


# -- streamable HTTP -------------------------------------------------------------------------


@pytest.fixture
def http_ledger(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The ledger server over streamable HTTP on 127.0.0.1, behind the token ``s3cret``."""
    ledger, port = tmp_path / "ledger.txt", free_port()
    command = [sys.executable, str(LEDGER_SERVER), "--http", str(port), "--token", "s3cret"]
    env = {**os.environ, "LEDGER": str(ledger)}
    with listening(command, port, log=tmp_path / "server.log", env=env):
        yield f"http://127.0.0.1:{port}/mcp", ledger


async def test_an_http_server_is_called_with_the_headers_it_needs(
    http_ledger: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, ledger = http_ledger
    monkeypatch.setenv("LEDGER_TOKEN", "s3cret")
    server = {"url": url, "headers": {"Authorization": "Bearer ${LEDGER_TOKEN}"}}
    script: list[JsonValue] = [call("record", entry="over http"), "Recorded."]
    workflow = flow({"ledger": server}, ["mcp:ledger/record"], script)
    result = await podium.arun(workflow, model="scripted", store=tmp_path / "runs.db")

    assert result.ok, result.error
    assert ledger.read_text() == "over http\n"


async def test_an_http_server_refusing_the_token_is_a_clear_error(
    http_ledger: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = http_ledger
    server = {"url": url, "headers": {"Authorization": "Bearer wrong"}}
    workflow = flow({"ledger": server}, ["mcp:ledger/record"], [])
    with pytest.raises(ConfigError, match=r"MCP server 'ledger' did not start.*HTTP 401"):
        await podium.arun(workflow, model="scripted", store=tmp_path / "runs.db")


# -- npm servers, run with Node ------------------------------------------------------------------


@pytest.fixture(scope="session")
def npm_servers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The npm MCP servers, installed once into pytest's cache (``node_modules`` there)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("npm MCP servers need Node.js and npm, which are not installed here")
    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    prefix = Path(cache.mkdir("npm-mcp-servers")) if cache else tmp_path_factory.mktemp("npm")
    wanted = [f"{name}@{version}" for name, version in NPM_SERVERS.items()]
    if not all(_installed(prefix, name, version) for name, version in NPM_SERVERS.items()):
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), *wanted],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"npm could not install {', '.join(wanted)}: {done.stderr[-500:]}")
    return prefix / "node_modules" / "@modelcontextprotocol"


def _installed(prefix: Path, name: str, version: str) -> bool:
    manifest = prefix / "node_modules" / name / "package.json"
    return manifest.exists() and json.loads(manifest.read_text())["version"] == version


async def test_agents_use_the_npm_filesystem_and_memory_servers(
    npm_servers: Path, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    node = shutil.which("node") or "node"
    servers = {
        "fs": {
            "command": node,
            "args": [str(npm_servers / "server-filesystem/dist/index.js"), str(files)],
        },
        "memory": {
            "command": node,
            "args": [str(npm_servers / "server-memory/dist/index.js")],
            "env": {"MEMORY_FILE_PATH": str(tmp_path / "memory.jsonl")},
        },
    }
    entity = {"name": "Lan", "entityType": "customer", "observations": ["rides an e-bike"]}
    script: list[JsonValue] = [
        call("write_file", path=str(files / "note.txt"), content="Lan rides an e-bike."),
        call("read_text_file", path=str(files / "note.txt")),
        call("create_entities", entities=[entity]),
        call("read_graph"),
        "Lan rides an e-bike.",
    ]
    tools = ["mcp:fs/write_file", "mcp:fs/read_text_file", "mcp:memory/*"]
    result = await podium.arun(
        flow(servers, tools, script), model="scripted", store=tmp_path / "r.db"
    )

    assert result.ok, result.error
    _, read, created, graph = tool_calls(result.events)
    assert (files / "note.txt").read_text() == "Lan rides an e-bike."
    assert "Lan rides an e-bike." in json.dumps(read.result)
    assert created.error is None
    assert "rides an e-bike" in json.dumps(graph.result)
    assert "customer" in (tmp_path / "memory.jsonl").read_text()
