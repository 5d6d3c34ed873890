"""The one interface every LLM is reached through: ``Model.complete(ModelRequest)``.

A request is a conversation plus, optionally, tools the model may call and a JSON schema its
answer must follow. A response is text (JSON text when a schema was given) or tool calls,
with token usage and cost. Providers translate to and from their wire format at their own
boundary and raise ``ModelError`` (never a vendor exception) with ``retryable`` set.

This module imports no LLM library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from pydantic import JsonValue

from podium.frozen import fast_init

__all__ = [
    "CallInfo",
    "Message",
    "Model",
    "ModelRequest",
    "ModelResponse",
    "Role",
    "ToolCall",
    "ToolSpec",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool"]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """A model's request to call a tool with JSON arguments."""

    id: str
    name: str
    arguments: dict[str, JsonValue]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One turn of a conversation.

    A ``tool`` message carries a tool's result for the call ``tool_call_id``; an
    ``assistant`` message may carry the tool calls the model made.
    """

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ToolSpec:
    """A tool as a model sees it: a name, what it does, and its arguments' JSON schema."""

    name: str
    description: str
    parameters: dict[str, JsonValue]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class CallInfo:
    """Who is calling: lets scripted models answer per task and providers tag requests."""

    run_id: str
    task_id: str
    agent: str
    attempt: int = 1


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRequest:
    """What to ask a model."""

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: Literal["auto", "none"] = "auto"
    """``none``: the tools stay visible (the conversation mentions them) but the model must
    answer now instead of calling one."""
    output_schema: dict[str, JsonValue] | None = None
    """When set, the answer must be JSON text valid against this schema."""
    max_output_tokens: int | None = None
    temperature: float | None = None
    caller: CallInfo | None = None
    on_token: Callable[[str], None] | None = field(default=None, compare=False, repr=False)
    """Called with each piece of text as it is generated, by models that stream."""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Tokens a call consumed."""

    input_tokens: int = 0
    output_tokens: int = 0


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ModelResponse:
    """A model's answer: text, or tool calls to make before answering."""

    model: str
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    """Cost of the call in US dollars (0 for local models)."""


@runtime_checkable
class Model(Protocol):
    """A chat-completion model.

    Contract: ``complete`` returns one answer for the conversation or raises
    ``podium.errors.ModelError`` with ``retryable`` telling whether trying again may help. When
    ``request.output_schema`` is set the text is JSON meant to follow it (callers still
    validate). Implementations must be safe to call concurrently from one event loop.
    """

    @property
    def name(self) -> str:
        """The model's name, as shown in events and the live view."""
        ...

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Answer ``request``."""
        ...
