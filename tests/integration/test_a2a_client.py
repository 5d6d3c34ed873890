"""A2A client: a remote agent is a member of the team, chosen by its card's skills.

The remote agents are real A2A servers on 127.0.0.1: ``tests/fixtures/protocols/
shout_agent.py`` (made with the official SDK's server) and another podium process serving a
workflow (``podium a2a``). The local agents are scripted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from listening import free_port, listening

import podium
from podium import Agent, ConfigError, Task, Workflow
from podium.event import AgentChosen, ModelCalled

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "protocols"


@dataclass(frozen=True)
class Shouter:
    url: str
    heard: Path

    def messages(self) -> list[str]:
        return self.heard.read_text().splitlines() if self.heard.exists() else []


@pytest.fixture
def shouter(tmp_path: Path) -> Iterator[Shouter]:
    heard, port = tmp_path / "heard.txt", free_port()
    command = [sys.executable, str(FIXTURES / "shout_agent.py"), "--port", str(port)]
    env = {**os.environ, "HEARD": str(heard)}
    with listening(command, port, log=tmp_path / "shouter.log", env=env):
        yield Shouter(f"http://127.0.0.1:{port}/", heard)


def team(remote: Agent, *tasks: Task) -> Workflow:
    local = Agent(name="writer", capabilities=("writing",))
    return Workflow(name="crew", agents=[local, remote], tasks=tasks)


async def test_the_router_sends_a_task_to_the_remote_agent_its_card_offers(
    shouter: Shouter, tmp_path: Path
) -> None:
    flow = team(
        Agent(name="loud", a2a=shouter.url),
        Task(id="greet", capability="shouting", instruction="Say hello to Lan"),
    )
    result = await podium.arun(flow, model="scripted", store=tmp_path / "runs.db")

    assert result.ok, result.error
    assert result.output == "SAY HELLO TO LAN"
    (chosen,) = [e for e in result.events if isinstance(e, AgentChosen)]
    assert chosen.agent == "loud"  # by the card's skill tag: the file names no capability
    (called,) = [e for e in result.events if isinstance(e, ModelCalled)]
    assert called.model == "a2a:shouter"
    assert shouter.messages() == ["Say hello to Lan"]


async def test_a_completed_remote_call_is_not_made_again_on_resume(
    shouter: Shouter, tmp_path: Path
) -> None:
    flow = Workflow(
        name="crew",
        agents=[Agent(name="loud", a2a=shouter.url), Agent(name="editor", approval=True)],
        tasks=[
            Task(id="shout", agent="loud", instruction="Hello"),
            Task(id="edit", agent="editor", instruction="Edit {{ shout }}", needs=("shout",)),
        ],
    )
    store = tmp_path / "runs.db"
    waiting = await podium.arun(flow, model="scripted", store=store)
    assert waiting.status == "waiting"
    await podium.approve(waiting.run_id, "edit", store=store)
    done = await podium.resume(waiting.run_id, flow, store=store)

    assert done.ok, done.error
    assert done.context["shout"] == "HELLO"
    assert shouter.messages() == ["Hello"]  # asked once, across the pause and the resume


async def test_a_task_the_remote_agent_fails_fails_without_a_retry(
    shouter: Shouter, tmp_path: Path
) -> None:
    flow = team(Agent(name="loud", a2a=shouter.url), Task(id="x", agent="loud", instruction="fail"))
    result = await podium.arun(flow, model="scripted", store=tmp_path / "runs.db")

    assert result.status == "failed"
    assert "a2a:shouter failed the task: I was told to fail" in (result.tasks["x"].error or "")
    assert shouter.messages() == ["fail"]


async def test_an_unreachable_card_is_a_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    flow = team(Agent(name="ghost", a2a=url), Task(id="x", agent="ghost", instruction="Hi"))
    with pytest.raises(ConfigError, match=r"agent 'ghost': cannot read the A2A agent card at"):
        await podium.arun(flow, model="scripted", store=tmp_path / "runs.db")


async def test_podium_calls_another_podium_process_serving_a_workflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, remote_store = free_port(), tmp_path / "remote.db"
    command = [sys.executable, "-m", "podium", "a2a", str(FIXTURES / "translate.yaml")]
    command += ["--http", f"127.0.0.1:{port}", "--model", "scripted", "--store", str(remote_store)]
    env = {**os.environ, "PODIUM_TOKEN": "s3cret"}
    remote = Agent(
        name="french",
        a2a={
            "url": f"http://127.0.0.1:{port}/agents/translate/",
            "headers": {"Authorization": "Bearer ${REMOTE_TOKEN}"},
        },
    )
    flow = team(remote, Task(id="say", capability="french", instruction="Hello, Lan!"))
    with listening(command, port, log=tmp_path / "remote.log", env=env):
        monkeypatch.setenv("REMOTE_TOKEN", "s3cret")
        result = await podium.arun(flow, model="scripted", store=tmp_path / "runs.db")
        (served,) = await podium.list_runs(store=remote_store)

    assert result.ok, result.error
    assert result.output == "Bonjour, Lan !"
    assert (served.workflow, served.status) == ("translate", "succeeded")
    state = await podium.get_run(served.run_id, store=remote_store)
    assert state.inputs == {"text": "Hello, Lan!"}
