"""Tool servers: the MCP servers a workflow declares, and how agents name their tools.

A workflow (or team) file declares each server once, by a command to start (stdio) or a URL
(streamable HTTP); an agent lists the tools it may call as ``mcp:SERVER/NAME``, where NAME may
be a glob (``mcp:fs/*``, ``mcp:fs/read_*``) and ``mcp:SERVER`` alone means all of them:

```yaml
mcp_servers:
  time:
    command: mcp-server-time            # started with the run, stopped after it
    args: [--local-timezone, UTC]
    env: {TZ: UTC}
  search:
    url: http://127.0.0.1:8931/mcp      # streamable HTTP
    headers: {Authorization: "Bearer ${SEARCH_TOKEN}"}   # ${NAME}: from the environment
    approval: [delete_*]                # these tools wait for a person's approval
agents:
  clerk:
    tools: [mcp:time/*, mcp:search/find]
```

This module is data only: the servers are started, and their tools bound to the agents, by
``podium.protocols.mcp.client`` (the ``mcp`` extra) when a run starts; on Temporal, by each
worker when an attempt first needs them (``worker_tool_sessions``).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from podium.errors import ConfigError
from podium.policy import Duration

if TYPE_CHECKING:
    from collections.abc import Mapping

    from podium.agent import Agent
    from podium.workflow.model import Workflow

__all__ = [
    "MCP_PREFIX",
    "McpServerSpec",
    "McpToolRef",
    "ToolSessions",
    "expand_environment",
    "serving_tools",
    "worker_tool_sessions",
]

MCP_PREFIX = "mcp:"
"""How an agent's ``tools`` entry names tools of a declared MCP server."""

_NAME = re.compile(r"^[A-Za-z_][\w-]*$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)\}")


class McpServerSpec(BaseModel):
    """How to reach one MCP server: a command to start (stdio) or a URL (streamable HTTP)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str | None = None
    """The program that serves MCP over its standard input and output."""
    args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    """Variables added to the server's environment (``${NAME}`` is read from ours)."""
    cwd: str | None = None
    url: str | None = None
    """A streamable HTTP endpoint, e.g. ``http://127.0.0.1:8931/mcp``."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Sent with every HTTP request (``${NAME}`` is read from the environment)."""
    timeout: Duration = timedelta(seconds=60)
    """How long one tool call may take before it fails (and is retried per the policy)."""
    startup_timeout: Duration = timedelta(seconds=60)
    """How long the server may take to start and list its tools."""
    approval: bool | tuple[str, ...] = False
    """Tools that wait for a person's approval before each call: all (True) or those whose
    name matches one of these globs."""

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSpec:
        if (self.command is None) == (self.url is None):
            raise ValueError("an MCP server has either `command` (stdio) or `url` (HTTP)")
        if self.url is not None and (self.args or self.env or self.cwd):
            raise ValueError("`args`, `env` and `cwd` are for a `command`, not a `url`")
        if self.command is not None and self.headers:
            raise ValueError("`headers` are for a `url`, not a `command`")
        return self

    def needs_approval(self, tool: str) -> bool:
        """Whether calls of ``tool`` wait for a person's approval."""
        if isinstance(self.approval, bool):
            return self.approval
        return any(fnmatchcase(tool, pattern) for pattern in self.approval)


@dataclass(frozen=True, slots=True)
class McpToolRef:
    """``mcp:SERVER/PATTERN`` from an agent's ``tools``: which tools of which server."""

    server: str
    pattern: str = "*"

    @classmethod
    def parse(cls, text: str) -> McpToolRef:
        """Read ``mcp:SERVER``, ``mcp:SERVER/NAME`` or ``mcp:SERVER/GLOB``.

        Raises:
            ValueError: the text is not written that way.
        """
        server, _, pattern = text.removeprefix(MCP_PREFIX).partition("/")
        if not text.startswith(MCP_PREFIX) or not _NAME.match(server):
            msg = f"{text!r}: MCP tools are written mcp:SERVER/NAME (a glob such as mcp:fs/*)"
            raise ValueError(msg)
        return cls(server=server, pattern=pattern or "*")

    def __str__(self) -> str:
        return f"{MCP_PREFIX}{self.server}/{self.pattern}"

    def matches(self, tool: str) -> bool:
        """Whether the server's tool called ``tool`` is one this reference names."""
        return fnmatchcase(tool, self.pattern)


def expand_environment(text: str, *, where: str) -> str:
    """``text`` with each ``${NAME}`` replaced by that environment variable.

    Raises:
        ConfigError: a variable it names is not set.
    """

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{where} uses ${{{name}}}, which is not set in the environment")
        return os.environ[name]

    return _VARIABLE.sub(value, text)


@asynccontextmanager
async def serving_tools(workflow: Workflow) -> AsyncGenerator[Workflow]:
    """For the length of a run: ``workflow`` with what other processes serve bound to it.

    Remote agents (``a2a:``, ``podium.peer``) get their cards' skills and send their tasks
    over A2A; then, once the workflow is validated, its agents' MCP tools are bound to running
    servers (``podium.protocols.mcp.client``). A workflow that uses neither is yielded as is.

    Raises:
        ConfigError: it uses MCP or A2A and that extra is not installed, a card cannot be
            fetched, or a server does not start.
        WorkflowValidationError: the workflow is invalid (no server is started).
    """
    from podium.workflow.validate import validate

    if any(agent.a2a is not None for agent in workflow.agents):
        workflow = await _with_remote_agents(workflow)
    if not any(agent.mcp_tools for agent in workflow.agents):
        yield workflow  # the engine validates it
        return
    validate(workflow)  # before any server starts
    try:
        from podium.protocols.mcp.client import serve_tools
    except ImportError as exc:
        raise ConfigError(str(exc)) from exc
    async with serve_tools(workflow) as bound:
        yield bound


async def _with_remote_agents(workflow: Workflow) -> Workflow:
    try:
        from podium.protocols.a2a.client import bind_remote_agents
    except ImportError as exc:
        raise ConfigError(str(exc)) from exc
    return await bind_remote_agents(workflow)


class ToolSessions(Protocol):
    """The MCP sessions a Temporal worker holds for the attempts it runs
    (``podium.protocols.mcp.sessions.McpSessions``)."""

    async def bind(
        self, agent: Agent, servers: Mapping[str, McpServerSpec], *, source: str
    ) -> Agent:
        """``agent`` with its ``mcp:`` tools bound to this worker's sessions of the servers
        that the workflow file ``source`` declares, opening the ones not open yet.

        Raises:
            ToolError: a server does not start here, or a reference matches none of its tools.
        """
        ...


@asynccontextmanager
async def worker_tool_sessions(worker: str) -> AsyncGenerator[ToolSessions | None]:
    """The MCP sessions of a worker (``worker``: its identity, named in errors), closed (their
    servers stopped) when the block ends; None without the ``mcp`` extra, where an attempt
    that needs a server fails saying so."""
    try:
        from podium.protocols.mcp.sessions import worker_sessions
    except ImportError:
        yield None
        return
    async with worker_sessions(worker) as sessions:
        yield sessions
