"""MCP client: the servers a workflow declares, started with a run, their tools bound to agents.

``serve_tools(workflow)`` starts one connection per declared server that an agent uses (a
process for a ``command``, a session for a ``url``), lists its tools, and yields the workflow
with each agent's ``mcp:SERVER/NAME`` references replaced by ``Tool`` objects carrying the
server's JSON schemas. The run calls them like Python tools, so each call is journaled
(``tool_called``) and a resumed run repeats no completed call. When the run ends the servers
are stopped.

Failures are classified for the retry policy (``RetryPolicy.retry_on``):

- the server **died** or dropped the connection: ``ToolError`` caused by ``ConnectionError``
  (kind ``server``, retryable); the next call starts the server again;
- the call **timed out** (the server's ``timeout``): kind ``timeout``, retryable;
- the **tool** answered with an error: kind ``tool``, not retryable unless the policy says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import IO, Any, TextIO, cast

try:
    import httpx2
    import mcp_types
    from mcp import Client, MCPError, StdioServerParameters, stdio_client
    from mcp.client.streamable_http import streamable_http_client
except ImportError as exc:  # pragma: no cover
    raise ImportError('MCP servers need the "mcp" extra: pip install "podium[mcp]"') from exc
from pydantic import BaseModel, ConfigDict, JsonValue, TypeAdapter

from podium.agent import Agent
from podium.errors import ConfigError, ToolError
from podium.task import Approval
from podium.tool import Tool
from podium.toolserver import McpServerSpec, expand_environment
from podium.workflow.model import Workflow

__all__ = ["McpConnection", "bind_agent", "serve_tools"]

logger = logging.getLogger(__name__)

_JSON: TypeAdapter[JsonValue] = TypeAdapter(JsonValue)


class _Arguments(BaseModel):
    """Stands in for the arguments model of a tool whose schema its server owns."""

    model_config = ConfigDict(extra="allow")


@asynccontextmanager
async def serve_tools(workflow: Workflow) -> AsyncGenerator[Workflow]:
    """Start the MCP servers ``workflow``'s agents use; yield it with their tools bound.

    Args:
        workflow: a validated workflow whose agents may name ``mcp:SERVER/NAME`` tools.

    Yields:
        The workflow with those references replaced by the servers' tools; the servers run
        until the ``async with`` block ends.

    Raises:
        ConfigError: a server does not start, or a reference matches none of its tools.
    """
    used = sorted({ref.server for agent in workflow.agents for ref in agent.mcp_tools})
    if not used:
        yield workflow
        return
    connections = [McpConnection(name, workflow.mcp_servers[name]) for name in used]
    failure: Exception | None = None
    async with asyncio.TaskGroup() as group:
        for connection in connections:
            group.create_task(connection.hold(), name=f"mcp server {connection.name}")
        try:
            for connection in connections:
                await connection.start()
            yield _bound(workflow, {c.name: c for c in connections})
        except Exception as exc:  # raised after the servers stop, not wrapped in a group
            failure = exc
        finally:
            for connection in connections:
                connection.close()
    if failure is not None:
        raise failure


@dataclass(slots=True, eq=False)
class McpConnection:
    """One MCP server for the length of a run: started on demand, again after it died.

    A single task (``hold``) enters and leaves the SDK's client, as its cancel scopes require;
    tool calls from any task use the live client and report a dropped connection.
    """

    name: str
    spec: McpServerSpec
    tools: list[mcp_types.Tool] = field(default_factory=list[mcp_types.Tool])
    starts: int = 0
    """How many times the server was started (restarts after it died included)."""
    _client: Client | None = None
    _failure: BaseException | None = None
    _wanted: asyncio.Event = field(default_factory=asyncio.Event)
    _started: asyncio.Event = field(default_factory=asyncio.Event)
    _dropped: asyncio.Event = field(default_factory=asyncio.Event)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _closing: bool = False
    _stderr: str = ""
    """What the server said when it last failed: the end of its standard error (a process)
    or the HTTP status it refused a request with (a URL)."""

    async def hold(self) -> None:
        """Own the server's connection: open it when wanted, keep it until dropped or closed."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            if self._closing:
                return
            started, self._dropped = self._started, asyncio.Event()
            with tempfile.TemporaryFile("w+", encoding="utf-8") as errors:
                try:
                    await self._connect(errors, started)
                except Exception as exc:  # the server failed to start or its transport broke:
                    self._failure = exc  # the caller waiting for it reports it (``client``)
                    self._stderr = _tail(errors) or self._stderr
                finally:
                    self._client = None
                    started.set()

    async def _connect(self, errors: IO[str], started: asyncio.Event) -> None:
        async with AsyncExitStack() as stack:
            async with asyncio.timeout(self.spec.startup_timeout.total_seconds()):
                transport = self._transport(errors, stack)
                client = await stack.enter_async_context(Client(transport))
                self.tools = await _list_tools(client)
            self._client, self.starts = client, self.starts + 1
            started.set()
            await self._dropped.wait()

    async def start(self) -> None:
        """Start the server and list its tools.

        Raises:
            ConfigError: it did not start within ``startup_timeout``.
        """
        try:
            await self.client()
        except ToolError as exc:
            raise ConfigError(exc.message) from exc

    async def client(self) -> Client:
        """The live client, starting (or restarting) the server if need be.

        Raises:
            ToolError: the server did not start (retryable: it may on the next attempt).
        """
        async with self._lock:
            if self._client is not None:
                return self._client
            self._started, self._failure, self._stderr = asyncio.Event(), None, ""
            self._wanted.set()
            await self._started.wait()  # ``hold`` sets it within the startup timeout
            if self._client is None:
                failure = self.last_failure()
                if isinstance(failure, TimeoutError):
                    seconds = self.spec.startup_timeout.total_seconds()
                    msg = f"MCP server {self.name!r} did not start within {seconds:g}s"
                else:
                    msg = f"MCP server {self.name!r} did not start: {_describe(failure)}"
                if self._stderr:
                    msg += f"; it wrote: {self._stderr}"
                raise ToolError(msg, retryable=True) from ConnectionError(msg)
            return self._client

    def last_failure(self) -> BaseException | None:
        """Why the server last failed to start or broke, if it did."""
        return self._failure

    def drop(self, client: Client) -> None:
        """Give up ``client``'s connection (its server died); the next call starts it again."""
        if self._client is client:
            self._client = None
            self._dropped.set()

    def close(self) -> None:
        """Stop the server when the run ends."""
        self._closing = True
        self._dropped.set()
        self._wanted.set()

    async def call(self, tool: str, arguments: Mapping[str, JsonValue]) -> JsonValue:
        """Call ``tool`` and return its result as JSON (text when it answered in text).

        Raises:
            ToolError: the server died (cause ``ConnectionError``) or the tool failed.
        """
        client = await self.client()
        try:
            result = await client.call_tool(tool, dict(arguments))
        except MCPError as exc:
            if exc.code == mcp_types.CONNECTION_CLOSED:
                self.drop(client)
                msg = f"MCP server {self.name!r} died during {tool}: it starts again for the retry"
                raise ToolError(msg, retryable=True) from ConnectionError(exc.message)
            raise ToolError(f"MCP server {self.name!r}, tool {tool}: {exc.message}") from exc
        if result.is_error:
            raise ToolError(f"MCP tool {self.name}/{tool} failed: {_text(result.content)}")
        if result.structured_content is not None:
            return _JSON.validate_python(result.structured_content)
        return _text(result.content)

    def _transport(self, errors: IO[str], stack: AsyncExitStack) -> Any:  # Any: a Transport
        where = f"MCP server {self.name!r}"
        if self.spec.command is not None:
            env = {k: expand_environment(v, where=where) for k, v in self.spec.env.items()}
            process = StdioServerParameters(
                command=self.spec.command, args=list(self.spec.args), env=env, cwd=self.spec.cwd
            )
            return stdio_client(process, errlog=cast("TextIO", errors))
        headers = {k: expand_environment(v, where=where) for k, v in self.spec.headers.items()}

        async def note_refusal(response: httpx2.Response) -> None:
            if response.status_code >= 400:  # the SDK's error does not say which status
                self._stderr = f"HTTP {response.status_code} from {response.request.url}"

        http = httpx2.AsyncClient(
            headers=headers,
            timeout=httpx2.Timeout(30, read=300),
            event_hooks={"response": [note_refusal]},
        )
        stack.push_async_callback(http.aclose)  # the SDK leaves a client it was given open
        return streamable_http_client(str(self.spec.url), http_client=http)


async def _list_tools(client: Client) -> list[mcp_types.Tool]:
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if cursor is None:
            return tools


def _bound(workflow: Workflow, connections: Mapping[str, McpConnection]) -> Workflow:
    """``workflow`` with each agent's MCP references replaced by the servers' tools.

    Raises:
        ConfigError: a reference matches no tool, or an agent gets two tools of one name.
    """
    agents = tuple(bind_agent(agent, connections) for agent in workflow.agents)
    return workflow.model_copy(update={"agents": agents})


def bind_agent(agent: Agent, connections: Mapping[str, McpConnection]) -> Agent:
    """``agent`` with its ``mcp:SERVER/NAME`` references replaced by the servers' tools.

    Raises:
        ConfigError: a reference matches no tool, or the agent gets two tools of one name.
    """
    if not agent.mcp_tools:
        return agent
    tools = list(agent.tools)
    for ref in agent.mcp_tools:
        connection = connections[ref.server]
        matched = [t for t in connection.tools if ref.matches(t.name)]
        if not matched:
            offered = ", ".join(t.name for t in connection.tools) or "none"
            msg = f"agent {agent.name!r}: {ref} matches no tool of MCP server {ref.server!r}"
            raise ConfigError(f"{msg} (it offers: {offered})")
        tools += [_tool(connection, t) for t in matched if t.name not in {x.name for x in tools}]
    names = [t.name for t in tools]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"agent {agent.name!r} has two tools named {', '.join(twice)}")
    return agent.model_copy(update={"tools": tuple(tools), "mcp_tools": ()})


def _tool(connection: McpConnection, listed: mcp_types.Tool) -> Tool:
    spec = connection.spec
    return Tool(
        name=listed.name,
        description=listed.description or listed.title or listed.name,
        function=_caller(connection, listed.name),
        arguments=_Arguments,
        timeout=spec.timeout,
        approval=Approval() if spec.needs_approval(listed.name) else None,
        parameters=_JSON.validate_python(listed.input_schema),  # type: ignore[arg-type]  # an object schema
    )


def _caller(connection: McpConnection, name: str) -> Callable[..., Any]:
    async def call_mcp_tool(arguments: dict[str, JsonValue]) -> JsonValue:
        return await connection.call(name, arguments)

    call_mcp_tool.__qualname__ = f"mcp:{connection.name}/{name}"  # names it in fingerprints
    return call_mcp_tool


def _text(content: list[mcp_types.ContentBlock]) -> str:
    """A result's content as the text a model reads (non-text parts are described)."""
    parts: list[str] = []
    for block in content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource {resource.uri}]")
        elif isinstance(block, mcp_types.ResourceLink):
            parts.append(f"[resource {block.uri}]")
        else:
            parts.append(f"[{block.type}: {block.mime_type}]")
    return "\n".join(parts)


def _tail(errors: IO[str]) -> str:
    """The last lines a server wrote on its standard error."""
    errors.seek(0)
    lines = [line.rstrip() for line in errors.read().splitlines() if line.strip()]
    return " | ".join(lines[-5:])[-1000:]


def _describe(failure: BaseException | None) -> str:
    while isinstance(failure, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", failure)
        failure = group.exceptions[0]
    if failure is None:
        return "it stopped"
    return json.dumps(f"{type(failure).__name__}: {failure}")[1:-1]
