"""The MCP sessions of a Temporal worker: opened when an attempt first needs them, shared by
the attempts of every run of a workflow file on that worker, closed when the worker stops.

On the local engine a run starts its servers and stops them after it (``serve_tools``). On
Temporal an attempt runs as an activity on whichever worker takes it, so the servers belong
to the worker instead: a ``command`` server is a child process of the worker, started at the
first attempt that calls one of its tools and kept for the next ones (a server that takes
seconds to start is not started again per attempt). A server that died is started again by
the next attempt that needs it. A session is keyed by the workflow file, the server's name
and its spec: an edited spec gets a session of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager

from podium.agent import Agent
from podium.errors import ConfigError, ToolError
from podium.protocols.mcp.client import McpConnection, bind_agent
from podium.toolserver import McpServerSpec

__all__ = ["McpSessions", "worker_sessions"]


@asynccontextmanager
async def worker_sessions(worker: str) -> AsyncGenerator[McpSessions]:
    """The MCP sessions of the worker named ``worker``; all are closed when the block ends.

    Args:
        worker: the worker's Temporal identity (``PID@HOST``), named in errors.
    """
    async with asyncio.TaskGroup() as group:
        sessions = McpSessions(group, worker=worker)
        try:
            yield sessions
        finally:
            sessions.close()


class McpSessions:
    """One worker's open MCP sessions; each is held by a task of the worker's group."""

    def __init__(self, group: asyncio.TaskGroup, *, worker: str) -> None:
        self._group = group
        self._worker = worker
        self._connections: dict[tuple[str, str, str], McpConnection] = {}

    async def bind(
        self, agent: Agent, servers: Mapping[str, McpServerSpec], *, source: str
    ) -> Agent:
        """``agent`` with its ``mcp:`` tools bound to this worker's sessions of ``source``'s
        servers, opening (or reopening) the ones it needs.

        Raises:
            ToolError: a server does not start on this worker (retryable: it may on the next
                attempt, or on another worker), or a reference matches none of its tools.
        """
        connections: dict[str, McpConnection] = {}
        for name in sorted({ref.server for ref in agent.mcp_tools}):
            connection = self._connection(source, name, servers[name])
            try:
                await connection.client()
            except ToolError as exc:
                msg = f"{exc.message} (on worker {self._worker})"
                raise ToolError(msg, retryable=True) from exc.__cause__
            connections[name] = connection
        try:
            return bind_agent(agent, connections)
        except ConfigError as exc:
            raise ToolError(f"{exc} (on worker {self._worker})") from exc

    def _connection(self, source: str, name: str, spec: McpServerSpec) -> McpConnection:
        key = (source, name, spec.model_dump_json())
        connection = self._connections.get(key)
        if connection is None:
            connection = self._connections[key] = McpConnection(name, spec)
            self._group.create_task(connection.hold(), name=f"mcp server {name} of {source}")
        return connection

    def close(self) -> None:
        """Stop every server (the worker stops)."""
        for connection in self._connections.values():
            connection.close()
