"""OpenAICompatModel: OpenAI, or any server speaking its chat-completions API.

vLLM, Ollama, LM Studio and llama.cpp's servers do: point ``ModelSpec.base_url`` at one. Calls
go through the official ``openai`` SDK with its retries off; podium's reliability layer retries.

**Structured output.** ``output_schema`` asks for ``response_format`` ``json_schema`` (not
strict: strict mode takes only a subset of JSON Schema). A server that rejects it (400, 422, or
llama-cpp-python's 500, naming ``response_format``) is asked instead, for the rest of this
instance's life, for ``json_object`` plus a system message carrying the schema; the schema also
rides in that format's ``schema`` key, which llama-cpp-python constrains decoding to and other
servers ignore. What still misses the schema, the engine's validate-and-repair loop catches.

**Streaming.** With ``on_token`` the answer streams: text deltas go to ``on_token``, tool-call
deltas are assembled by index, usage comes from the last chunk (``stream_options``; a server
that rejects it is not sent it again, one that reports no usage gets an estimate). A server
whose stream breaks off when tools are offered (llama-cpp-python) is no longer streamed to then.

**Errors** are translated here; no SDK exception escapes::

    SDK exception                            ModelError.kind  retryable
    RateLimitError (429)                     rate_limit       yes, after Retry-After(-ms)
    APITimeoutError, 408, our deadline       timeout          yes
    APIConnectionError, 409, 5xx             server           yes
    AuthenticationError, PermissionDenied    auth             no
    NotFoundError, code model_not_found      not_found        no (names model and base_url)
    4xx about the context length             context_length   no
    other 4xx                                bad_request      no
    malformed tool arguments, other          other            tool arguments: yes
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Literal, Required, TypedDict, assert_never, cast
from urllib.parse import urlsplit

try:
    import openai
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        'OpenAICompatModel needs the "openai" extra: pip install "podium[openai]"'
    ) from exc

from pydantic import JsonValue, TypeAdapter, ValidationError

from podium.clock import Clock, SystemClock
from podium.errors import ConfigError, ModelError, ModelErrorKind
from podium.models.base import Message, ModelRequest, ModelResponse, ToolCall, ToolSpec, Usage
from podium.models.pricing import cost, price_of
from podium.models.spec import ModelSpec

if TYPE_CHECKING:
    from openai.types import CompletionUsage, shared_params
    from openai.types import chat as wire
    from openai.types.chat.completion_create_params import ResponseFormat

__all__ = ["OpenAICompatModel"]

logger = logging.getLogger(__name__)

_DEFAULT_KEY_ENV = "OPENAI_API_KEY"
_PLACEHOLDER_KEY = "not-needed"
"""Sent to local servers when no key is set: they ignore it, but the SDK wants one."""
_JSON_OBJECT: TypeAdapter[dict[str, JsonValue]] = TypeAdapter(dict[str, JsonValue])
_CONTEXT_LENGTH = re.compile(r"context.(length|window|size)|maximum context|too many tokens", re.I)
_Feature = Literal["json_schema", "stream_options", "stream_with_tools"]
_KIND_OF_STATUS: dict[int, ModelErrorKind] = {
    401: "auth",
    403: "auth",
    404: "not_found",
    408: "timeout",
    409: "server",
    429: "rate_limit",
}
_ADVICE: dict[ModelErrorKind, str] = {
    "rate_limit": "podium retries after the delay asked for; lower max_concurrency",
    "timeout": "podium retries; raise the model spec's timeout if it persists",
    "server": "the server failed; podium retries",
    "auth": "check the API key in ${env} and its access to model {model!r}",
    "not_found": "check the model name {model!r} and base_url {where} (GET /models lists them)",
    "context_length": "shorten the conversation or max_output_tokens, or use a larger model",
    "bad_request": "check the model spec and that this server supports what was asked",
    "other": "see the error above",
}


class _Options(TypedDict, total=False):
    model: Required[str]
    messages: Required[list[wire.ChatCompletionMessageParam]]
    tools: list[wire.ChatCompletionFunctionToolParam]
    tool_choice: Literal["auto", "none"]
    response_format: ResponseFormat
    max_tokens: int
    max_completion_tokens: int
    temperature: float


class OpenAICompatModel:
    """A chat model behind OpenAI's API or an OpenAI-compatible server.

    Implements ``podium.models.base.Model``; safe to call concurrently from one event loop.
    Close it with ``aclose()``.
    """

    def __init__(self, spec: ModelSpec, *, clock: Clock | None = None) -> None:
        """Set up the client (nothing is sent yet); ``clock`` reads ``Retry-After`` dates.

        The API key is read from ``$<spec.api_key_env>`` (default ``OPENAI_API_KEY``); servers
        on loopback or private addresses may do without.

        Raises:
            ConfigError: the spec names no model, or no API key is set where one is needed.
        """
        if not spec.name:
            raise ConfigError("an openai model spec needs a model name: openai:MODEL or name:")
        self._spec, self._model = spec, spec.name
        self._clock = clock or SystemClock()
        self._price = price_of(spec)
        self._unsupported: set[_Feature] = set()
        host = urlsplit(spec.base_url).hostname if spec.base_url else None
        self._name = f"{host or 'openai'}:{spec.name}"
        try:
            self._client = openai.AsyncOpenAI(
                api_key=_api_key(spec),
                base_url=spec.base_url,
                max_retries=0,
                timeout=spec.timeout.total_seconds(),
            )
        except openai.OpenAIError as exc:
            raise ConfigError(f"cannot set up the OpenAI client for {self._name}: {exc}") from exc
        self._where = str(self._client.base_url).rstrip("/")

    @property
    def name(self) -> str:
        """``openai:<model>`` for OpenAI's API, else ``<base_url host>:<model>``."""
        return self._name

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Answer ``request``, streaming the text to ``request.on_token`` when it is set.

        Raises:
            ModelError: the call failed or timed out, or the answer cannot be read; ``kind``
                says why (see the module docstring).
        """
        seconds = self._spec.timeout.total_seconds()
        try:
            async with asyncio.timeout(seconds):
                return await self._complete(request)
        except TimeoutError as exc:
            msg = f"{self._name} at {self._where} did not answer within {seconds:g} s; "
            raise ModelError(msg + _ADVICE["timeout"], kind="timeout") from exc

    async def aclose(self) -> None:
        """Close the client's connections; the model cannot be called afterwards."""
        await self._client.close()

    async def _complete(self, request: ModelRequest) -> ModelResponse:
        # Each pass returns, raises, or gives up one more feature the server rejected, for good.
        just_fell_back = False
        while True:
            options = self._options(request)
            try:
                if (response := await self._call(options, request)) is not None:
                    return response
                feature = self._broken_stream(request)
            except openai.OpenAIError as exc:
                if just_fell_back and type(exc) is openai.APIConnectionError:
                    # llama-cpp-python drops the connection a moment after a broken stream,
                    # unannounced, and the pool may have handed it to this retry: once more.
                    just_fell_back = False
                    continue
                feature = self._rejected_feature(exc, options, streamed=bool(request.on_token))
                if feature is None:
                    raise self._error(exc) from exc
            self._unsupported.add(feature)
            just_fell_back = True
            logger.warning(
                "%s at %s rejects %s; not asking again", self._name, self._where, feature
            )

    async def _call(self, options: _Options, request: ModelRequest) -> ModelResponse | None:
        """The answer, or None when a streamed one broke off (see ``_broken_stream``)."""
        if request.on_token is None or (request.tools and "stream_with_tools" in self._unsupported):
            completion = await self._client.chat.completions.create(**options)
            return self._response(completion, request)
        return await self._stream(options, request, request.on_token)

    def _options(self, request: ModelRequest) -> _Options:
        schema, messages = request.output_schema, request.messages
        if schema is not None and "json_schema" in self._unsupported:
            messages = _with_schema_hint(messages, schema)
        options: _Options = {"model": self._model, "messages": chat_messages(messages)}
        if request.tools:
            options["tools"] = chat_tools(request.tools)
            options["tool_choice"] = request.tool_choice  # llama-cpp-python needs it explicit
        if schema is not None and "json_schema" not in self._unsupported:
            options["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": {**schema}, "strict": False},
            }
        elif schema is not None:  # "schema" is no OpenAI key: llama-cpp-python constrains to it
            options["response_format"] = cast(
                "ResponseFormat", {"type": "json_object", "schema": schema}
            )
        if request.max_output_tokens is not None and self._spec.base_url is None:
            # OpenAI's reasoning models refuse max_tokens; llama-cpp-python knows only that one.
            options["max_completion_tokens"] = request.max_output_tokens
        elif request.max_output_tokens is not None:
            options["max_tokens"] = request.max_output_tokens
        if request.temperature is not None:
            options["temperature"] = request.temperature
        return options

    def _rejected_feature(
        self, exc: openai.OpenAIError, options: _Options, *, streamed: bool
    ) -> _Feature | None:
        if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422, 500):
            return None
        detail = _detail(exc).lower()
        asked_schema = options.get("response_format", {}).get("type") == "json_schema"
        if asked_schema and ("response_format" in detail or "json_schema" in detail):
            return "json_schema"
        if streamed and "stream_options" not in self._unsupported and "stream_options" in detail:
            return "stream_options"
        return None

    def _broken_stream(self, request: ModelRequest) -> _Feature:
        if request.tools and "stream_with_tools" not in self._unsupported:
            return "stream_with_tools"
        msg = f"{self._name} at {self._where}: the answer's stream ended before it finished; "
        raise ModelError(msg + _ADVICE["server"], kind="server")

    async def _stream(
        self, options: _Options, request: ModelRequest, on_token: Callable[[str], None]
    ) -> ModelResponse | None:
        """The streamed answer, or None if the stream ended without a finish reason."""
        usage_option = "stream_options" not in self._unsupported
        stream = await self._client.chat.completions.create(
            **options,
            stream=True,
            stream_options={"include_usage": True} if usage_option else openai.omit,
        )
        streamed = _Streamed(on_token=on_token)
        async with stream:
            async for chunk in stream:
                streamed.add(chunk)
        if not streamed.finished:
            return None
        text = "".join(streamed.pieces)
        calls = tuple(
            parse_tool_call(call.id, call.name, call.arguments, model=self._name, index=index)
            for index, call in sorted(streamed.calls.items())
        )
        return self._answer(text, calls, streamed.usage or _estimated_usage(request, text))

    def _response(self, completion: wire.ChatCompletion, request: ModelRequest) -> ModelResponse:
        if not completion.choices:
            msg = f"{self._name} at {self._where} returned no answer (no choices); "
            raise ModelError(msg + _ADVICE["server"], kind="server")
        message = completion.choices[0].message
        if message.refusal and not message.content and not message.tool_calls:
            msg = f"{self._name} refused to answer: {message.refusal}; rephrase the task"
            raise ModelError(msg, kind="other", retryable=False)
        calls = tuple(
            parse_tool_call(c.id, c.function.name, c.function.arguments, model=self._name, index=i)
            for i, c in enumerate(message.tool_calls or ())
            if c.type == "function"
        )
        text = message.content or ""
        return self._answer(
            text, calls, _usage(completion.usage) or _estimated_usage(request, text)
        )

    def _answer(self, text: str, calls: tuple[ToolCall, ...], usage: Usage) -> ModelResponse:
        price = cost(self._price, usage)
        return ModelResponse(model=self._name, text=text, tool_calls=calls, usage=usage, cost=price)

    def _error(self, exc: openai.OpenAIError) -> ModelError:
        """Translate an SDK exception (see the table in the module docstring)."""
        where = f"{self._name} at {self._where}"
        if isinstance(exc, openai.APITimeoutError):  # before its base class APIConnectionError
            return ModelError(f"{where} timed out; {_ADVICE['timeout']}", kind="timeout")
        if isinstance(exc, openai.APIConnectionError):
            msg = f"cannot reach {where}: {exc.message} ({exc.__cause__}); check that the server "
            return ModelError(msg + "is running and base_url is right", kind="server")
        if isinstance(exc, openai.APIStatusError):
            detail = _detail(exc)
            kind = _status_kind(exc.status_code, exc.code, detail)
            env = self._spec.api_key_env or _DEFAULT_KEY_ENV
            advice = _ADVICE[kind].format(env=env, model=self._model, where=self._where)
            if quota := exc.code == "insufficient_quota":
                advice = f"the quota is used up: check the plan and billing behind ${env}"
            msg = f"{where} failed with HTTP {exc.status_code}: {detail}; {advice}"
            retry_after = _retry_after(exc.response.headers, self._clock)
            return ModelError(
                msg, kind=kind, retryable=False if quota else None, retry_after=retry_after
            )
        if isinstance(exc, openai.APIError):  # an error event in the middle of a stream
            return ModelError(f"{where} failed while answering: {exc.message}", kind="server")
        return ModelError(f"the openai SDK failed calling {where}: {exc}", kind="other")


def chat_messages(messages: Sequence[Message]) -> list[wire.ChatCompletionMessageParam]:
    """Podium messages as chat-completions messages.

    Raises:
        ModelError: a ``tool`` message has no ``tool_call_id`` (kind ``bad_request``).
    """
    return [_chat_message(message) for message in messages]


def _chat_message(message: Message) -> wire.ChatCompletionMessageParam:
    match message.role:
        case "system":
            return {"role": "system", "content": message.content}
        case "user":
            return {"role": "user", "content": message.content}
        case "assistant" if not message.tool_calls:
            return {"role": "assistant", "content": message.content}
        case "assistant":
            calls: list[wire.ChatCompletionMessageFunctionToolCallParam] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": _json(c)},
                }
                for c in message.tool_calls
            ]
            return {"role": "assistant", "content": message.content or None, "tool_calls": calls}
        case "tool":
            if (call_id := message.tool_call_id) is None:
                msg = "a tool message needs the tool_call_id of the call it answers"
                raise ModelError(msg, kind="bad_request")
            return {"role": "tool", "tool_call_id": call_id, "content": message.content}
        case _:  # pragma: no cover - exhaustive
            assert_never(message.role)


def _json(call: ToolCall) -> str:
    return json.dumps(call.arguments, ensure_ascii=False)


def chat_tools(tools: Sequence[ToolSpec]) -> list[wire.ChatCompletionFunctionToolParam]:
    """Podium tools as chat-completions function tools."""
    functions: list[shared_params.FunctionDefinition] = [
        {"name": t.name, "description": t.description, "parameters": {**t.parameters}}
        for t in tools
    ]
    return [{"type": "function", "function": function} for function in functions]


def _with_schema_hint(
    messages: Sequence[Message], schema: dict[str, JsonValue]
) -> tuple[Message, ...]:
    hint = f"Reply with one JSON object only, following this JSON schema: {json.dumps(schema)}"
    if messages and messages[0].role == "system":
        first = Message(role="system", content=f"{messages[0].content}\n\n{hint}")
        return (first, *messages[1:])
    return (Message(role="system", content=hint), *messages)


def parse_tool_call(
    call_id: str | None, name: str, arguments: str, *, model: str, index: int = 0
) -> ToolCall:
    """A tool call from the wire as a ``ToolCall``; ``arguments`` is JSON text of an object.

    Empty ``arguments`` mean none; a call without an id gets ``call_<index>``.

    Raises:
        ModelError: the arguments are not a JSON object (kind ``other``, retryable: a new
            sample is likely well-formed).
    """
    try:
        parsed = _JSON_OBJECT.validate_json(arguments) if arguments.strip() else {}
    except ValidationError as exc:
        msg = f"{model} returned malformed arguments for tool {name!r} (not a JSON object): "
        msg += f"{arguments[:200]!r}; trying again usually gets a well-formed call"
        raise ModelError(msg, kind="other", retryable=True) from exc
    return ToolCall(id=call_id or f"call_{index}", name=name, arguments=parsed)


@dataclass(slots=True)
class _PartialCall:
    id: str | None = None
    name: str = ""
    arguments: str = ""


@dataclass(slots=True, kw_only=True)
class _Streamed:
    """A streamed answer as its chunks arrive."""

    on_token: Callable[[str], None]
    pieces: list[str] = field(default_factory=list[str])
    calls: dict[int, _PartialCall] = field(default_factory=dict[int, _PartialCall])
    usage: Usage | None = None
    finished: bool = False

    def add(self, chunk: wire.ChatCompletionChunk) -> None:
        self.usage = _usage(chunk.usage) or self.usage
        for choice in (c for c in chunk.choices if c.index == 0):
            self.finished = self.finished or choice.finish_reason is not None
            if choice.delta.content:
                self.pieces.append(choice.delta.content)
                self.on_token(choice.delta.content)
            for delta in choice.delta.tool_calls or ():
                call = self.calls.setdefault(delta.index, _PartialCall())
                call.id = call.id or delta.id
                if delta.function is not None:
                    call.name = call.name or delta.function.name or ""
                    call.arguments += delta.function.arguments or ""


def _usage(usage: CompletionUsage | None) -> Usage | None:
    if usage is None:
        return None
    return Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens)


def _estimated_usage(request: ModelRequest, text: str) -> Usage:
    # The server reported no usage (llama-cpp-python never does when streaming): estimate four
    # characters a token, so cost and token limits still see the call.
    prompt = sum(len(m.content) for m in request.messages)
    return Usage(input_tokens=prompt // 4, output_tokens=len(text) // 4)


def _status_kind(status: int, code: str | None, detail: str) -> ModelErrorKind:
    if code == "model_not_found":  # llama-cpp-python says it with a 400
        return "not_found"
    if status in _KIND_OF_STATUS:
        return _KIND_OF_STATUS[status]
    if code == "context_length_exceeded" or _CONTEXT_LENGTH.search(detail):
        return "context_length"
    return "server" if status >= 500 else "bad_request" if status >= 400 else "other"


def _detail(exc: openai.APIStatusError) -> str:
    """The server's own words: its error message, else its whole body (shortened)."""
    body = exc.body
    if isinstance(body, dict):
        message = cast("dict[str, object]", body).get("message")
        if isinstance(message, str) and message:
            return message
    if body is None:
        return exc.message
    return (body if isinstance(body, str) else json.dumps(body, default=str))[:500]


def _retry_after(headers: Mapping[str, str], clock: Clock) -> timedelta | None:
    """The wait asked for in ``retry-after-ms``, or ``Retry-After`` (seconds or an HTTP date)."""
    try:
        if (millis := headers.get("retry-after-ms")) is not None:
            return timedelta(milliseconds=max(float(millis), 0))
        if (value := headers.get("retry-after")) is None:
            return None
        if value.strip().replace(".", "", 1).isdigit():
            return timedelta(seconds=float(value))
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):  # unreadable: as if none was given
        return None
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return max(when - clock.now(), timedelta(0))


def _api_key(spec: ModelSpec) -> str:
    env = spec.api_key_env or _DEFAULT_KEY_ENV
    if key := os.environ.get(env):
        return key
    if spec.base_url is not None and _is_local(spec.base_url):
        return _PLACEHOLDER_KEY
    msg = f"no API key for model {spec.name!r} at {spec.base_url or 'the OpenAI API'}: set the "
    msg += f"environment variable {env}, or name another one with api_key_env in the model spec"
    raise ConfigError(msg)


def _is_local(base_url: str) -> bool:
    """Whether the server is on this machine or a private network, where keys are optional."""
    host = urlsplit(base_url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or host.endswith(".localhost")
    return address.is_loopback or address.is_private
