"""``podium a2a`` driven by the official A2A client: cards, send, stream, input-required, cancel."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from a2a.client import Client, ClientConfig, create_client
from a2a.helpers import get_artifact_text, new_text_message
from a2a.types import (
    CancelTaskRequest,
    Role,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskState,
)

import podium

GREET = (Path(__file__).parents[1] / "fixtures" / "protocols" / "greet.yaml").read_text()

HOLD = """\
name: hold
description: Waits until it is told to go on.
agents:
  waiter: {tools: ["blocker:wait_for_file"]}
tasks:
  - {id: wait, agent: waiter, instruction: Wait}
scripted:
  wait:
    - tool_call: {name: wait_for_file, arguments: {path: never-created}}
"""

BLOCKER = '''\
import asyncio
from pathlib import Path


async def wait_for_file(path: str) -> str:
    """Wait until a file exists (the test never creates it: the task is cancelled)."""
    while not Path(path).exists():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return "there"
'''


@dataclass(frozen=True)
class Served:
    url: str
    store: Path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """``podium a2a greet.yaml hold.yaml`` on a free port of 127.0.0.1, token ``s3cret``."""
    (tmp_path / "greet.yaml").write_text(GREET, encoding="utf-8")
    (tmp_path / "hold.yaml").write_text(HOLD, encoding="utf-8")
    (tmp_path / "blocker.py").write_text(BLOCKER, encoding="utf-8")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    store = tmp_path / "runs.db"
    command = [sys.executable, "-m", "podium", "a2a", "greet.yaml", "hold.yaml"]
    command += ["--http", f"127.0.0.1:{port}", "--model", "scripted", "--store", str(store)]
    log = (tmp_path / "server.log").open("w")
    env = {**os.environ, "PODIUM_TOKEN": "s3cret"}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=log)
    try:
        for _ in range(600):  # a readiness poll with a deadline, not a timing assertion
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                subprocess.run(["sleep", "0.1"], check=True)
        yield Served(f"http://127.0.0.1:{port}", store)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers={"Authorization": "Bearer s3cret"}, timeout=120) as c:
        yield c


async def client_for(served: Served, http: httpx.AsyncClient, agent: str) -> Client:
    config = ClientConfig(httpx_client=http)
    return await create_client(f"{served.url}/agents/{agent}/", client_config=config)


async def send(client: Client, text: str, task: Task | None = None) -> list[StreamResponse]:
    message = new_text_message(text, role=Role.ROLE_USER)
    if task is not None:
        message.task_id, message.context_id = task.id, task.context_id
    return [r async for r in client.send_message(SendMessageRequest(message=message))]


def states(responses: list[StreamResponse]) -> list[int]:
    return [r.status_update.status.state for r in responses if r.HasField("status_update")]


def notes(responses: list[StreamResponse]) -> list[str]:
    updates = [r.status_update.status for r in responses if r.HasField("status_update")]
    return [p.text for s in updates if s.HasField("message") for p in s.message.parts]


async def test_the_cards_publish_each_workflow_and_the_team(
    served: Served, http: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient() as anonymous:
        card = (
            await anonymous.get(f"{served.url}/agents/greet/.well-known/agent-card.json")
        ).json()
        refused = await anonymous.post(f"{served.url}/agents/greet/", json={})
    assert refused.status_code == 401
    (skill,) = card["skills"]
    assert card["name"] == "greet" and card["capabilities"]["streaming"] is True
    assert skill["description"].startswith("Greets someone, once a person approves sending it.")
    assert "who: whom to greet" in skill["description"]
    assert skill["tags"] == ["greeting"]
    assert card["supportedInterfaces"][0]["url"] == f"{served.url}/agents/greet/"
    team = (await http.get(f"{served.url}/agents/team/.well-known/agent-card.json")).json()
    assert team["skills"][0]["id"] == "goal"


async def test_a_task_streams_asks_for_approval_and_completes_once_approved(
    served: Served, http: httpx.AsyncClient
) -> None:
    client = await client_for(served, http, "greet")
    first = await send(client, "Lan")
    assert states(first) == [
        TaskState.TASK_STATE_WORKING,
        TaskState.TASK_STATE_WORKING,
        TaskState.TASK_STATE_INPUT_REQUIRED,
    ]
    assert notes(first)[0].startswith("run ") and notes(first)[0].endswith(" started")
    assert notes(first)[1] == "draft: succeeded"
    assert "send proposes 'sent to Lan'" in notes(first)[-1]
    task = first[0].task

    done = await send(client, "approve", task)
    assert states(done)[-1] == TaskState.TASK_STATE_COMPLETED
    (artifact,) = [r.artifact_update.artifact for r in done if r.HasField("artifact_update")]
    assert artifact.name == "output" and get_artifact_text(artifact) == "sent to Lan"
    (run,) = await podium.list_runs(store=served.store)
    assert (run.status, run.workflow) == ("succeeded", "greet")


async def test_an_answer_other_than_approve_denies(served: Served, http: httpx.AsyncClient) -> None:
    client = await client_for(served, http, "greet")
    task = (await send(client, "Lan"))[0].task
    denied = await send(client, "not on a Sunday", task)
    assert states(denied)[-1] == TaskState.TASK_STATE_FAILED
    assert "denied" in notes(denied)[-1] and "not on a Sunday" in notes(denied)[-1]


async def test_cancel_stops_the_run_which_is_recorded_cancelled(
    served: Served, http: httpx.AsyncClient
) -> None:
    client = await client_for(served, http, "hold")
    message = new_text_message("go", role=Role.ROLE_USER)
    stream = client.send_message(SendMessageRequest(message=message))
    task = (await anext(stream)).task
    async for response in stream:  # until the run has started (it then blocks in its tool)
        if any(note.endswith(" started") for note in notes([response])):
            break
    cancelled = await client.cancel_task(CancelTaskRequest(id=task.id))
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
    await stream.aclose()
    (run,) = await podium.list_runs(store=served.store)
    assert run.workflow == "hold"
    state = await podium.get_run(run.run_id, store=served.store)
    assert state.status == "cancelled"
