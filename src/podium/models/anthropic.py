"""Anthropic's Messages API as a ``Model``, through the official ``anthropic`` SDK.

Written against the SDK's 2.x Messages API. A ``ModelRequest`` maps onto one
``POST /v1/messages``:

- ``system`` messages become the top-level ``system`` parameter, joined by blank lines;
- ``user`` and ``assistant`` messages become turns of content blocks; an assistant message's
  tool calls become ``tool_use`` blocks (``id``, ``name``, ``input``);
- ``tool`` messages become a user turn of ``tool_result`` blocks (``tool_use_id``,
  ``content``), placed before any text in that turn as the API requires;
- consecutive turns of one role are merged (the API wants user and assistant to alternate),
  and blank text is left out (the API rejects empty text blocks);
- tools become ``tools`` (``name``, ``description``, ``input_schema``); ``tool_choice="none"``
  becomes ``{"type": "none"}``, which keeps the tools defined, as a conversation holding
  ``tool_use`` blocks must;
- ``max_output_tokens`` becomes ``max_tokens``, which the API requires (1024 when unset);
- ``temperature`` is not sent: the SDK's Messages API has no such parameter.

Structured output uses a forced tool, which every Claude model supports: with
``output_schema`` set, a tool ``answer`` (``final_answer`` if a real tool has that name) whose
``input_schema`` is the output schema is added. Alone, or with ``tool_choice="none"``, it is
forced: ``{"type": "tool", "name": "answer"}``. Next to real tools, ``{"type": "any"}`` makes
the model call a tool, a real one or ``answer``, so the final answer never comes as prose. A
call to ``answer`` is the final answer: the text is its input as JSON, other calls are dropped.

With ``request.on_token`` set the call streams (``client.messages.stream``): each text delta
goes to ``on_token`` and the SDK's accumulated final message is read like a plain response.
A forced ``answer`` streams no text (its input arrives as JSON deltas).

Errors become ``ModelError`` by HTTP status (the SDK's exception classes follow it), or by
the error's ``type`` for an error event inside a stream:

- 429 ``RateLimitError``: ``rate_limit``, retryable with ``retry_after`` from the
  ``retry-after`` header (not retryable when the error says a spend limit was reached);
- ``APITimeoutError``, 408, or the spec's ``timeout`` passing: ``timeout``, retryable;
- ``APIConnectionError`` or a stream broken mid-way: ``server``, retryable;
- 5xx ``InternalServerError`` (``OverloadedError`` 529, 503, 504, ...): ``server``, retryable;
- 401 ``AuthenticationError``, 402 (billing), 403 ``PermissionDeniedError``: ``auth``;
- 404 ``NotFoundError``: ``not_found`` (the message names the model);
- 400 ``BadRequestError`` saying the prompt is too long, or 413: ``context_length``;
- any other 400: ``bad_request``; anything else: ``other``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Literal, cast

try:
    import anthropic
    import httpx2  # the SDK's HTTP client: a stream broken mid-way raises its errors unwrapped
    from anthropic.types import (
        ContentBlockParam,
        MessageParam,
        ToolChoiceParam,
        ToolParam,
    )
    from anthropic.types import Message as AnthropicMessage
    from anthropic.types.message_create_params import MessageCreateParamsBase
except ImportError as exc:  # pragma: no cover - the test extra installs anthropic
    raise ImportError(
        'AnthropicModel needs the "anthropic" extra: pip install "podium[anthropic]"'
    ) from exc

from pydantic import JsonValue, TypeAdapter

from podium.errors import ConfigError, ModelError, ModelErrorKind
from podium.models.base import Message, ModelRequest, ModelResponse, ToolCall, ToolSpec, Usage
from podium.models.pricing import cost, price_of
from podium.models.spec import ModelSpec, Price

__all__ = ["AnthropicCall", "AnthropicModel", "build_call", "read_response", "translate_error"]

_DEFAULT_KEY_ENV: Final = "ANTHROPIC_API_KEY"
_DEFAULT_MAX_TOKENS: Final = 1024
_ANSWER_TOOL: Final = "answer"
_ANSWER_DESCRIPTION: Final = "Your final answer: call this once, when you are done."
_TOO_LONG: Final = ("prompt is too long", "exceed context limit", "context window")
_STATUS_KINDS: Final[dict[int, ModelErrorKind]] = {
    400: "bad_request",
    401: "auth",
    402: "auth",  # billing
    403: "auth",
    404: "not_found",
    408: "timeout",
    413: "context_length",
    429: "rate_limit",
}
_TYPE_KINDS: Final[dict[str, ModelErrorKind]] = {
    "invalid_request_error": "bad_request",
    "authentication_error": "auth",
    "billing_error": "auth",
    "permission_error": "auth",
    "not_found_error": "not_found",
    "rate_limit_error": "rate_limit",
    "timeout_error": "timeout",
    "api_error": "server",
    "overloaded_error": "server",
}
_ADVICE: Final[dict[ModelErrorKind, str]] = {
    "rate_limit": "wait and try again, or lower the run's concurrency",
    "timeout": "try again, or raise the model spec's timeout",
    "server": "Anthropic is failing or overloaded: try again later",
    "auth": "check the API key in {env} and that its account may use this model",
    "not_found": "check the model name and the spec's base_url",
    "context_length": "shorten the prompt (fewer or smaller context values) or lower max tokens",
    "bad_request": "the API rejected the request: check max_output_tokens and the schemas",
    "other": "see the cause below",
}
_JSON_OBJECT: TypeAdapter[dict[str, JsonValue]] = TypeAdapter(dict[str, JsonValue])

_Role = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AnthropicCall:
    """One Messages API call, as the SDK takes it, and how to read its answer."""

    params: MessageCreateParamsBase
    """Keyword arguments of ``client.messages.create`` / ``stream``."""
    answer_tool: str | None = None
    """The forced tool carrying a structured answer, when the request has an output schema."""


class AnthropicModel:
    """A Claude model reached through Anthropic's Messages API. Implements ``Model``.

    The SDK's own retries are off (``max_retries=0``): retrying is the engine's decision,
    made from the ``ModelError`` this model raises.
    """

    def __init__(self, spec: ModelSpec) -> None:
        """Build the client; nothing is sent until the first call.

        Args:
            spec: the model: its ``name``, and optionally ``base_url``, ``api_key_env``,
                ``timeout`` and ``price``.

        Raises:
            ConfigError: the spec names no model, or the API key's variable is not set.
        """
        if not spec.name:
            msg = "an anthropic model spec needs a name, e.g. anthropic:claude-haiku-4-5"
            raise ConfigError(msg)
        env = spec.api_key_env or _DEFAULT_KEY_ENV
        key = os.environ.get(env)
        if not key:
            msg = (
                f"model anthropic:{spec.name} needs an API key in the environment variable "
                f"{env}: set it, or name another variable with api_key_env"
            )
            raise ConfigError(msg)
        self._spec = spec
        self._model = spec.name
        self._price: Price = price_of(spec)
        self._client = anthropic.AsyncAnthropic(
            api_key=key,
            base_url=spec.base_url,
            max_retries=0,
            timeout=spec.timeout.total_seconds(),
        )

    @property
    def name(self) -> str:
        """``anthropic:<model>``."""
        return f"anthropic:{self._model}"

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Answer ``request`` with one Messages API call, streamed when it has ``on_token``.

        Raises:
            ModelError: the call failed or took longer than the spec's timeout.
        """
        call = build_call(request, model=self._model)
        try:
            async with asyncio.timeout(self._spec.timeout.total_seconds()):
                message = await self._send(call, request.on_token)
        except (TimeoutError, anthropic.AnthropicError, httpx2.TransportError) as exc:
            raise translate_error(exc, self._spec) from exc
        return read_response(
            message, name=self.name, answer_tool=call.answer_tool, price=self._price
        )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()

    async def _send(
        self, call: AnthropicCall, on_token: Callable[[str], None] | None
    ) -> AnthropicMessage:
        if on_token is None:
            return await self._client.messages.create(**call.params)
        async with self._client.messages.stream(**call.params) as stream:
            async for piece in stream.text_stream:
                on_token(piece)
            return await stream.get_final_message()


def build_call(request: ModelRequest, *, model: str) -> AnthropicCall:
    """Map a request onto the Messages API (see the module docstring).

    Args:
        request: what to ask.
        model: Anthropic's model name, e.g. ``claude-haiku-4-5``.

    Returns:
        The SDK's parameters and the name of the forced answer tool, if any.

    Raises:
        ModelError: a ``tool`` message has no ``tool_call_id`` (kind ``bad_request``).
    """
    system, messages = _messages(request.messages)
    params: MessageCreateParamsBase = {
        "model": model,
        "max_tokens": request.max_output_tokens or _DEFAULT_MAX_TOKENS,
        "messages": messages,
    }
    if system:
        params["system"] = system
    tools, choice, answer_tool = _tools(request)
    if tools:
        params["tools"] = tools
    if choice is not None:
        params["tool_choice"] = choice
    return AnthropicCall(params=params, answer_tool=answer_tool)


def _messages(messages: Sequence[Message]) -> tuple[str, list[MessageParam]]:
    """The joined system prompt and the alternating user/assistant turns."""
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content.strip())
    turns: list[tuple[_Role, list[ContentBlockParam]]] = []
    for message in messages:
        if message.role == "system":
            continue
        role: _Role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    return system, [_turn(role, blocks) for role, blocks in turns]


def _blocks(message: Message) -> list[ContentBlockParam]:
    if message.role == "tool":
        if message.tool_call_id is None:
            msg = "a tool message needs the tool_call_id of the call it answers"
            raise ModelError(msg, kind="bad_request")
        block: ContentBlockParam = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id,
            "content": message.content,
        }
        return [block]
    blocks: list[ContentBlockParam] = []
    if message.content.strip():
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": {**call.arguments}}
        )
    return blocks


def _turn(role: _Role, blocks: list[ContentBlockParam]) -> MessageParam:
    if role == "assistant":
        return {"role": "assistant", "content": blocks}
    # tool results first: the API rejects a user turn where text precedes them
    ordered = sorted(blocks, key=lambda b: b["type"] != "tool_result")
    return {"role": "user", "content": ordered}


def _tools(request: ModelRequest) -> tuple[list[ToolParam], ToolChoiceParam | None, str | None]:
    """The tool definitions, the tool choice, and the forced answer tool's name, if any."""
    tools = [_tool(t.name, t.description, t.parameters) for t in request.tools]
    if request.output_schema is None:
        if not tools:
            return [], None, None
        none: ToolChoiceParam = {"type": "none"}
        return tools, none if request.tool_choice == "none" else {"type": "auto"}, None
    answer = _answer_name(request.tools)
    tools.append(_tool(answer, _ANSWER_DESCRIPTION, request.output_schema))
    if request.tools and request.tool_choice == "auto":
        return tools, {"type": "any"}, answer
    return tools, {"type": "tool", "name": answer}, answer


def _tool(name: str, description: str, schema: dict[str, JsonValue]) -> ToolParam:
    return {"name": name, "description": description, "input_schema": {**schema}}


def _answer_name(tools: Sequence[ToolSpec]) -> str:
    taken = {t.name for t in tools}
    name = _ANSWER_TOOL
    while name in taken:
        name = f"final_{name}"
    return name


def read_response(
    message: AnthropicMessage, *, name: str, answer_tool: str | None, price: Price
) -> ModelResponse:
    """Map a Messages API response onto ``ModelResponse``.

    Args:
        message: the API's message (or the SDK's accumulation of a stream).
        name: the model's name for the response (``anthropic:<model>``).
        answer_tool: the forced answer tool's name; a call to it becomes the answer's JSON text.
        price: the model's price, to turn usage into cost.

    Returns:
        The text (JSON text for a structured answer) or the tool calls, usage and cost.
    """
    calls = tuple(
        ToolCall(id=b.id, name=b.name, arguments=_JSON_OBJECT.validate_python(b.input))
        for b in message.content
        if b.type == "tool_use"
    )
    text = "".join(b.text for b in message.content if b.type == "text")
    answer = next((c for c in calls if c.name == answer_tool), None)
    if answer is not None:
        text, calls = json.dumps(answer.arguments, ensure_ascii=False), ()
    tokens = message.usage
    usage = Usage(input_tokens=tokens.input_tokens, output_tokens=tokens.output_tokens)
    return ModelResponse(
        model=name, text=text, tool_calls=calls, usage=usage, cost=cost(price, usage)
    )


def translate_error(exc: BaseException, spec: ModelSpec) -> ModelError:
    """The ``ModelError`` for an SDK exception or a missed deadline (see the module's table).

    Args:
        exc: what the SDK (or ``asyncio.timeout``) raised.
        spec: the model's spec, named in the message.

    Returns:
        The error to raise ``from exc``.
    """
    model = f"anthropic:{spec.name}"
    if isinstance(exc, TimeoutError):
        seconds = spec.timeout.total_seconds()
        msg = f"model {model} did not answer within {seconds:g}s: {_ADVICE['timeout']}"
        return ModelError(msg, kind="timeout")
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
        return ModelError(f"model {model} timed out: {_ADVICE['timeout']}", kind="timeout")
    if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
        where = spec.base_url or "the Anthropic API"
        msg = f"model {model}: the connection to {where} failed ({exc}): {_ADVICE['server']}"
        return ModelError(msg, kind="server")
    if isinstance(exc, anthropic.APIStatusError):
        return _status_error(exc, spec)
    return ModelError(f"model {model} failed: {exc}: {_ADVICE['other']}", kind="other")


def _status_error(exc: anthropic.APIStatusError, spec: ModelSpec) -> ModelError:
    status = exc.status_code
    detail = _error_field(exc, "error", "message") or exc.message
    kind: ModelErrorKind = "server" if status >= 500 else _STATUS_KINDS.get(status, "other")
    if status < 400:  # an error event inside a stream comes with the stream's status, 200
        kind = _TYPE_KINDS.get(_error_field(exc, "error", "type"), "other")
    if kind == "bad_request" and any(s in detail.lower() for s in _TOO_LONG):
        kind = "context_length"
    advice = _ADVICE[kind].format(env=spec.api_key_env or _DEFAULT_KEY_ENV)
    if kind == "not_found":
        advice = f"Anthropic has no model {spec.name!r} here: {advice}"
    msg = f"model anthropic:{spec.name} failed (HTTP {status}, {kind}): {detail}: {advice}"
    code = _error_field(exc, "error", "details", "error_code")
    return ModelError(
        msg,
        kind=kind,
        retryable=False if code.endswith("spend_limit_reached") else None,
        retry_after=_retry_after(exc) if kind == "rate_limit" else None,
    )


def _error_field(exc: anthropic.APIStatusError, *path: str) -> str:
    """The string at ``path`` in an error body (``{"type": "error", "error": {...}}``), or ""."""
    value: object = exc.body
    for key in path:
        value = cast("dict[str, object]", value).get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""


def _retry_after(exc: anthropic.APIStatusError) -> timedelta | None:
    """The ``retry-after`` header in seconds (an HTTP date is ignored: it needs the wall clock)."""
    try:
        delay = timedelta(seconds=float(exc.response.headers.get("retry-after", "")))
    except (ValueError, OverflowError):  # absent, a date, or nonsense like "inf"
        return None
    return delay if delay >= timedelta(0) else None
