"""The README's code runs: its YAML workflow validates and runs, its Python example runs."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import yaml

import podium
from podium.models.base import ToolCall
from podium.workflow.validate import validate
from podium.workflow.yaml import parse_workflow

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_quickstart_has_exactly_the_two_commands_ci_runs() -> None:
    quickstart = README.split("## Quickstart", 1)[1]
    commands = [line for line in blocks("bash")[0].splitlines() if line.strip()]
    assert quickstart.index(commands[0]) < quickstart.index("##")
    assert len(commands) == 2
    assert 'podium run "' in commands[0]  # the main job: a goal in plain words
    assert "--docs examples/docs" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci


def test_tour_workflow_validates_and_runs_with_canned_answers() -> None:
    (source,) = [b for b in blocks("yaml") if b.startswith("name:")]
    flow = parse_workflow(source, source="README.md", base_dir=ROOT / "examples")
    validate(flow)
    result = podium.run(flow, model="scripted", store=podium.SqliteStore(":memory:"))
    assert result.ok, result.error
    assert result.tasks["technical_reply"].status == "skipped"
    assert result.context["classify"] == {"category": "billing", "urgency": "high"}


def test_tour_fragment_is_valid_yaml() -> None:
    (fragment,) = [b for b in blocks("yaml") if b.lstrip().startswith("- id: extract")]
    tasks = yaml.safe_load(fragment)
    assert [t["id"] for t in tasks] == ["extract", "revise", "brief", "escalate"]


def test_python_example_runs() -> None:
    (source,) = [b for b in blocks("python") if "podium.run(flow" in b]
    call = 'podium.run(flow, {"topic": "cargo bikes in Hanoi"})'
    assert call in source
    # run it offline and in memory: the README runs it on the default embedded model
    offline = 'podium.run(flow, {"topic": "cargo bikes in Hanoi"}, model="scripted", store=store)'
    namespace: dict[str, object] = {"store": podium.SqliteStore(":memory:")}
    exec(compile(source.replace(call, offline), "README.md", "exec"), namespace)
    result = namespace["result"]
    assert isinstance(result, podium.RunResult)
    assert result.ok
    assert result.tasks["revise/review"].tokens > 0


def test_recorded_runs_example_approves_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (source,) = [b for b in blocks("python") if "podium.list_runs(" in b]
    monkeypatch.setenv("PODIUM_STORE", str(tmp_path / "runs.db"))
    flow = tmp_path / "mail.yaml"
    flow.write_text(MAIL, encoding="utf-8")
    waiting = podium.run(flow, model="scripted")
    assert waiting.status == "waiting"

    exec(compile(source, "README.md", "exec"), {})

    state = asyncio.run(podium.get_run(waiting.run_id))
    assert state.status == "succeeded"
    assert state.output == "sent"


MAIL = """
name: mail
agents:
  mailer: {instructions: You send mail., approval: true}
tasks:
  - {id: send, agent: mailer, instruction: Send it}
scripted:
  send: [sent]
"""


def test_agent_example_runs_the_agent_with_its_tool(capsys: pytest.CaptureFixture[str]) -> None:
    (source,) = [b for b in blocks("python") if "podium.run(support" in b]
    call = 'podium.run(support, "Where is order A-1042?")'
    assert call in source
    # offline: a scripted model that calls the tool, then answers
    offline = 'podium.run(support, "Where is order A-1042?", model=scripted, store=":memory:")'
    lookup = ToolCall(id="c1", name="order_status", arguments={"order_id": "A-1042"})
    namespace: dict[str, object] = {
        "podium": podium,
        "scripted": podium.ScriptedModel([lookup, "It shipped yesterday."]),
    }
    exec(compile(source.replace(call, offline), "README.md", "exec"), namespace)
    assert capsys.readouterr().out == "It shipped yesterday.\n"


def test_mcp_servers_fragment_declares_valid_servers_and_tool_names() -> None:
    (fragment,) = [b for b in blocks("yaml") if b.startswith("mcp_servers:")]
    data = yaml.safe_load(fragment)
    flow = podium.Workflow(
        name="mcp",
        mcp_servers=data["mcp_servers"],
        agents=[{"name": name, **spec} for name, spec in data["agents"].items()],
        tasks=[{"id": "look", "agent": "researcher", "instruction": "Look it up"}],
    )
    validate(flow)
    (researcher,) = flow.agents
    assert {ref.server for ref in researcher.mcp_tools} == {"search", "fs", "time"}
    assert flow.mcp_servers["fs"].needs_approval("write_file")


def test_remote_agents_fragment_declares_valid_peers() -> None:
    (fragment,) = [b for b in blocks("yaml") if "a2a: http" in b and b.startswith("agents:")]
    agents = yaml.safe_load(fragment)["agents"]
    french, reviewer = (podium.Agent(name=name, **spec) for name, spec in agents.items())
    assert french.a2a is not None and french.a2a.url == "http://127.0.0.1:9999/"
    assert reviewer.a2a is not None and reviewer.a2a.timeout.total_seconds() == 300


def test_control_flow_fragment_holds_valid_tasks() -> None:
    (fragment,) = [b for b in blocks("yaml") if b.lstrip().startswith("- id: answer")]
    tasks = [podium.Task.model_validate(t) for t in yaml.safe_load(fragment)]
    ids = ["answer", "merge", "verdict", "abort", "post", "search", "paid", "deeper"]
    assert [t.id for t in tasks] == ids
    assert tasks[0].cancel_rest and tasks[1].join == "activated" and tasks[2].end


def test_the_pattern_table_covers_all_43_patterns_and_counts_them() -> None:
    text = (ROOT / "docs" / "workflow-patterns.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| [^|]+ \| (.+) \|$", text, flags=re.MULTILINE)
    assert [int(n) for n, _ in rows] == list(range(1, 44))
    unsupported = sum(1 for _, how in rows if how.startswith("not supported"))
    partly = sum(1 for _, how in rows if how.startswith("partly"))
    direct = len(rows) - unsupported - partly
    assert (
        f"Coverage: {direct} patterns directly, {partly} partly, {unsupported} not supported"
        in text
    )
