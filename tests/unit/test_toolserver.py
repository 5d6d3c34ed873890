"""Declaring MCP servers and naming their tools: parsed and checked before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from podium import Agent, ConfigError, Task, Workflow, WorkflowValidationError
from podium.toolserver import McpServerSpec, McpToolRef, expand_environment
from podium.workflow.validate import validate
from podium.workflow.yaml import load_workflow


def test_a_server_is_a_command_or_a_url() -> None:
    assert McpServerSpec(command="mcp-server-time", timeout="5s").timeout.total_seconds() == 5  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"either `command` .* or `url`"):
        McpServerSpec()
    with pytest.raises(ValidationError, match=r"either `command` .* or `url`"):
        McpServerSpec(command="x", url="http://127.0.0.1:1/mcp")
    with pytest.raises(ValidationError, match="`headers` are for a `url`"):
        McpServerSpec(command="x", headers={"A": "b"})
    with pytest.raises(ValidationError, match="are for a `command`"):
        McpServerSpec(url="http://127.0.0.1:1/mcp", args=("--x",))


def test_approval_names_tools_by_glob() -> None:
    spec = McpServerSpec(command="fs", approval=("write_*", "move_file"))
    assert [spec.needs_approval(t) for t in ("write_file", "move_file", "read_file")] == [
        True,
        True,
        False,
    ]
    assert McpServerSpec(command="fs", approval=True).needs_approval("read_file")


@pytest.mark.parametrize(
    ("text", "server", "pattern"),
    [("mcp:fs/*", "fs", "*"), ("mcp:fs", "fs", "*"), ("mcp:fs/read_*", "fs", "read_*")],
)
def test_tool_references_parse(text: str, server: str, pattern: str) -> None:
    ref = McpToolRef.parse(text)
    assert (ref.server, ref.pattern) == (server, pattern)


def test_a_malformed_reference_says_how_to_write_one() -> None:
    with pytest.raises(ValueError, match=r"written mcp:SERVER/NAME"):
        McpToolRef.parse("mcp:/read_file")
    with pytest.raises(ValidationError, match=r"written mcp:SERVER/NAME"):
        Agent(name="a", tools=["mcp:bad server/x"])


def test_an_agent_keeps_python_tools_and_mcp_references_apart() -> None:
    def search(query: str) -> str:
        """Search."""
        return query

    agent = Agent(name="a", tools=[search, "mcp:fs/read_*", "mcp:time"])
    assert [t.name for t in agent.tools] == ["search"]
    assert [str(r) for r in agent.mcp_tools] == ["mcp:fs/read_*", "mcp:time/*"]
    assert McpToolRef.parse("mcp:fs/read_*").matches("read_file")
    assert not McpToolRef.parse("mcp:fs/read_*").matches("write_file")


def test_an_undeclared_server_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        "name: clerk\n"
        "mcp_servers:\n"
        "  time: {command: mcp-server-time}\n"
        "agents:\n"
        "  clerk:\n"
        "    tools: [mcp:tme/*]\n"
        "tasks:\n"
        "  - {id: ask, agent: clerk, instruction: Ask}\n"
    )
    with pytest.raises(WorkflowValidationError) as caught:
        validate(load_workflow(path))
    (problem,) = caught.value.problems
    assert problem.location is not None and problem.location.line == 6
    assert "no MCP server 'tme' is declared" in problem.message
    assert "did you mean 'time'?" in problem.message


def test_mcp_tools_belong_to_the_top_level_workflow() -> None:
    sub = Workflow(
        name="sub",
        mcp_servers={"time": McpServerSpec(command="mcp-server-time")},
        agents=[Agent(name="clerk", tools=["mcp:time/*"])],
        tasks=[Task(id="ask", agent="clerk", instruction="Ask")],
    )
    top = Workflow(name="top", tasks=[Task(id="sub", workflow=sub)])
    with pytest.raises(WorkflowValidationError, match="belong to the top-level workflow"):
        validate(top)


def test_environment_variables_are_read_and_a_missing_one_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEARCH_TOKEN", "t0k")
    assert expand_environment("Bearer ${SEARCH_TOKEN}", where="x") == "Bearer t0k"
    monkeypatch.delenv("SEARCH_TOKEN")
    with pytest.raises(ConfigError, match=r"MCP server 's' uses \$\{SEARCH_TOKEN\}, which is not"):
        expand_environment("Bearer ${SEARCH_TOKEN}", where="MCP server 's'")
