"""Agent: a specialist on the team, described as data.

An agent has a name, a description and capabilities (what the router matches tasks to),
instructions (a Jinja template rendered over the context), a model, tools, an optional output
schema (validated, with a bounded repair loop), and the context keys it may read and write.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, InstanceOf, field_validator, model_validator

from podium.budget import Budget
from podium.models.base import Model
from podium.models.spec import ModelSpec
from podium.peer import A2aPeerSpec
from podium.policy import Policy
from podium.task import Approval
from podium.tool import Tool, tool
from podium.toolserver import MCP_PREFIX, McpToolRef

__all__ = ["Agent"]


class Agent(BaseModel):
    """A specialist agent.

    ``reads`` and ``writes`` are glob patterns over context keys (``"*"`` is everything). A
    write outside ``writes`` is refused with ``ContextAccessError``; keys outside ``reads`` are
    neither shown in the agent's prompt nor usable in its templates.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, arbitrary_types_allowed=True
    )

    name: str = Field(pattern=r"^[A-Za-z_][\w-]*$")
    description: str = ""
    capabilities: tuple[str, ...] = ()
    instructions: str = ""
    """System prompt, a Jinja template over the context (e.g. ``Write about {{ topic }}``)."""
    model: str | ModelSpec | InstanceOf[Model] | None = None
    """A model name (``local``, ``openai:gpt-4o-mini``, a name from the workflow's ``models``),
    a ``ModelSpec``, or a model object; None means the team default."""
    tools: tuple[InstanceOf[Tool], ...] = ()
    """Python tools; an ``mcp:SERVER/NAME`` entry (a glob too: ``mcp:fs/*``) goes to
    ``mcp_tools`` instead."""
    mcp_tools: tuple[McpToolRef, ...] = ()
    """Tools of the workflow's MCP servers (``mcp_servers``), bound when a run starts."""
    a2a: A2aPeerSpec | None = None
    """A remote agent served over A2A (``podium.peer``): its tasks go to it, whatever
    model the run uses."""
    output_schema: type[BaseModel] | None = None
    """When set, the agent's answer must validate against this model."""
    reads: tuple[str, ...] = ("*",)
    writes: tuple[str, ...] = ("*",)
    max_concurrency: int | None = Field(default=None, ge=1)
    """At most this many tasks of this agent run at once (None: only the global limit)."""
    max_repairs: int = Field(default=2, ge=0)
    """How many times an invalid answer is sent back with its errors before the task fails."""
    max_turns: int = Field(default=8, ge=1)
    """How many model calls one task may make (tool calls take turns)."""
    approval: Approval | bool | None = None
    """Whether a human must approve the output of every task of this agent."""
    budget: Budget | None = None
    """Limits on what this agent spends over the whole run (all its tasks together)."""
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0)
    policy: Policy | None = None
    """Retries, attempt timeout, fallbacks and circuit breaking for this agent's tasks; each
    field it sets overrides the workflow's ``defaults``."""

    @model_validator(mode="before")
    @classmethod
    def _split_mcp_tools(cls, data: Any) -> Any:  # Any: raw input before validation
        if not isinstance(data, dict):
            return data
        raw = cast("dict[str, object]", data)
        tools = raw.get("tools")
        if not isinstance(tools, list | tuple):
            return raw
        items = cast("list[object]", list(tools))  # pyright: ignore[reportUnknownArgumentType]
        named = [t for t in items if isinstance(t, str) and t.startswith(MCP_PREFIX)]
        if not named:
            return raw
        rest = [t for t in items if not (isinstance(t, str) and t.startswith(MCP_PREFIX))]
        earlier = cast("tuple[object, ...]", raw.get("mcp_tools") or ())
        refs = (*earlier, *(McpToolRef.parse(t) for t in named))
        return {**raw, "tools": rest, "mcp_tools": refs}

    @field_validator("mcp_tools", mode="before")
    @classmethod
    def _parse_mcp_tools(cls, value: Any) -> Any:  # Any: raw input before validation
        if not isinstance(value, list | tuple):
            return value
        items = cast("list[object]", list(value))  # pyright: ignore[reportUnknownArgumentType]
        return tuple(_tool_ref(v) if isinstance(v, str) else v for v in items)

    @field_validator("tools", mode="before")
    @classmethod
    def _wrap_functions(cls, value: Any) -> Any:  # Any: raw input before validation
        if isinstance(value, list | tuple):
            items = cast("Sequence[Tool | Callable[..., Any]]", value)  # checked by _as_tool
            return tuple(_as_tool(item) for item in items)
        return value

    def may_read(self, key: str) -> bool:
        """Whether this agent may read context key ``key``."""
        return _matches(key, self.reads)

    def may_write(self, key: str) -> bool:
        """Whether this agent may write context key ``key``."""
        return _matches(key, self.writes)

    def tool_named(self, name: str) -> Tool | None:
        """The agent's tool called ``name``, if it has one."""
        return next((t for t in self.tools if t.name == name), None)


def _tool_ref(text: str) -> McpToolRef:
    return McpToolRef.parse(text if text.startswith(MCP_PREFIX) else MCP_PREFIX + text)


def _as_tool(item: Tool | Callable[..., Any]) -> Tool:
    return item if isinstance(item, Tool) else tool(item)


def _matches(key: str, patterns: tuple[str, ...]) -> bool:
    if "*" in patterns:  # the default scope, checked for every read and write
        return True
    root = key.split(".", 1)[0]
    return any(fnmatchcase(key, p) or fnmatchcase(root, p) for p in patterns)
