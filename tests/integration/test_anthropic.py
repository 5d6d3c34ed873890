"""AnthropicModel over HTTP, against a local stand-in for Anthropic's Messages API.

No real Anthropic server is reachable here, so this module starts its own small HTTP server
on 127.0.0.1 (stdlib ``ThreadingHTTPServer`` in a thread) that speaks the Messages API wire
format. It is a stand-in, not Anthropic: it records each request's headers and JSON body and
answers ``POST /v1/messages`` from a per-test queue of canned replies written in the API's
shapes (messages, ``text/event-stream`` event streams, ``{"type": "error", ...}`` errors).
The real ``anthropic`` SDK talks to it, so request encoding, response and stream parsing and
the SDK's exception classes are all exercised as in production.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest
from pydantic import BaseModel

import podium
from podium.errors import ConfigError, ModelError
from podium.event import ModelCalled
from podium.ids import TaskId
from podium.models.anthropic import AnthropicModel
from podium.models.base import Message, ModelRequest, ToolCall, ToolSpec
from podium.models.pricing import DEFAULT_PRICES
from podium.models.spec import ModelSpec, Price

# The SDK warns on every call naming a model it lists as deprecated; the price table's
# Claude entries are all on that list, and the pricing tests need a priced name.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The model 'claude-3-5-haiku-latest' is deprecated:DeprecationWarning"
)

MODEL = "claude-haiku-4-5"
PRICED = "claude-3-5-haiku-latest"
KEY = "sk-ant-test-key"

Json = dict[str, Any]  # Any: JSON bodies as the wire carries them


@dataclass(frozen=True)
class Recorded:
    """One request the stand-in received."""

    path: str
    headers: dict[str, str]
    """Header names lower-cased."""
    body: Json


@dataclass(frozen=True)
class Reply:
    """A canned answer: a JSON body, or server-sent events when ``events`` is set."""

    status: int = 200
    body: Json = field(default_factory=dict[str, Any])
    events: tuple[tuple[str, Json], ...] | None = None
    headers: dict[str, str] = field(default_factory=dict[str, str])
    cut_after: int | None = None
    """For a stream: drop the connection after this many events, mid-body."""
    hold: threading.Event | None = None
    """Wait for this before answering (to let a deadline pass)."""
    close: bool = False
    """Close the connection after answering (``connection: close``)."""


class StandIn:
    """The Messages API stand-in: canned replies in, recorded requests out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.stand_in = self

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def take(self, request: Recorded) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._replies:
                return self._replies.popleft()
        return error(500, "api_error", "stand-in: no reply queued for this request")

    def pending(self) -> int:
        with self._lock:
            return len(self._replies)

    def reset(self) -> None:
        with self._lock:
            self._replies.clear()
            self.requests.clear()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stand_in: StandIn

    def handle_error(self, request: Any, client_address: Any) -> None:  # Any: stdlib signature
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client hung up first (the deadline test): expected, not news
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        stand_in = cast(_Server, self.server).stand_in
        reply = stand_in.take(Recorded(self.path, headers, json.loads(raw or b"{}")))
        if reply.hold is not None:
            reply.hold.wait(timeout=30)
        if reply.events is None:
            self._send_json(reply)
        else:
            self._send_events(reply)

    def _send_json(self, reply: Reply) -> None:
        data = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_standin")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.close:
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def _send_events(self, reply: Reply) -> None:
        assert reply.events is not None
        self.send_response(reply.status)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for sent, (event, data) in enumerate(reply.events):
            if sent == reply.cut_after:
                self.close_connection = True  # no final chunk: the body ends mid-way
                return
            chunk = f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:  # Any: the stdlib's signature
        """Keep test output quiet."""


# -- canned bodies, in the Messages API's shapes ------------------------------------------


def text(value: str) -> Json:
    return {"type": "text", "text": value}


def tool_use(call_id: str, name: str, arguments: Json) -> Json:
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def message(
    *content: Json,
    stop_reason: str = "end_turn",
    input_tokens: int = 25,
    output_tokens: int = 7,
    model: str = MODEL,
) -> Reply:
    body = {
        "id": "msg_01StandIn",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": list(content),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }
    return Reply(body=body)


def error(status: int, kind: str, detail: str, headers: dict[str, str] | None = None) -> Reply:
    body = {"type": "error", "error": {"type": kind, "message": detail}}
    return Reply(status=status, body=body, headers=headers or {})


def stream(
    blocks: list[tuple[Json, list[Json]]], *, input_tokens: int = 30, output_tokens: int = 9
) -> Reply:
    """An SSE stream: per content block, its start and its deltas."""
    start: Json = {**message(input_tokens=input_tokens, output_tokens=1).body}
    start.update(content=[], stop_reason=None)
    events: list[tuple[str, Json]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    events.append(("ping", {"type": "ping"}))
    for index, (block, deltas) in enumerate(blocks):
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            )
        )
        events += [
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        ]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta = {"stop_reason": "end_turn", "stop_sequence": None}
    usage = {"output_tokens": output_tokens}
    events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    events.append(("message_stop", {"type": "message_stop"}))
    return Reply(events=tuple(events))


def text_stream(*pieces: str) -> Reply:
    deltas = [{"type": "text_delta", "text": p} for p in pieces]
    return stream([(text(""), deltas)])


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stand_in_server() -> Iterator[StandIn]:
    stand_in = StandIn()
    thread = threading.Thread(target=stand_in.server.serve_forever, daemon=True)
    thread.start()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def server(stand_in_server: StandIn, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    stand_in_server.reset()
    yield stand_in_server
    assert stand_in_server.pending() == 0, "a canned reply was never asked for"


@pytest.fixture
async def connect(server: StandIn) -> AsyncIterator[Callable[..., AnthropicModel]]:
    models: list[AnthropicModel] = []

    def build(**fields: Any) -> AnthropicModel:  # Any: ModelSpec fields
        defaults: dict[str, Any] = {"provider": "anthropic", "name": MODEL, "base_url": server.url}
        spec = ModelSpec.model_validate(defaults | fields)
        models.append(AnthropicModel(spec))
        return models[-1]

    yield build
    for model in models:
        await model.aclose()


@pytest.fixture
async def model(connect: Callable[..., AnthropicModel]) -> AnthropicModel:
    return connect()


def ask(*messages: Message, **fields: Any) -> ModelRequest:  # Any: ModelRequest fields
    return ModelRequest(messages=messages, **fields)


def ignore(token: str) -> None:
    """An ``on_token`` that makes a call stream."""


def user(content: str) -> Message:
    return Message(role="user", content=content)


class Forecast(BaseModel):
    city: str
    high_c: float
    summary: str


WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


# -- request mapping ----------------------------------------------------------------------


async def test_a_tool_conversation_becomes_alternating_turns_of_blocks(
    server: StandIn, model: AnthropicModel
) -> None:
    server.queue(message(text("It is sunny in Paris.")))
    call = ToolCall(id="toolu_01", name="get_weather", arguments={"city": "Paris"})
    request = ask(
        Message(role="system", content="You are a forecaster."),
        Message(role="system", content="Be brief."),
        user("Weather in Paris?"),
        Message(role="assistant", content="", tool_calls=(call,)),
        Message(role="tool", content='{"sky": "sunny"}', tool_call_id="toolu_01"),
        user("And in one sentence?"),
        tools=(WEATHER,),
        max_output_tokens=200,
    )
    await model.complete(request)
    (sent,) = server.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["authorization"] == f"Bearer {KEY}"  # the 2.x SDK's API-key header
    assert sent.headers["anthropic-version"]
    assert sent.body == {
        "model": MODEL,
        "max_tokens": 200,
        "system": "You are a forecaster.\n\nBe brief.",
        "messages": [
            {"role": "user", "content": [text("Weather in Paris?")]},
            {
                "role": "assistant",
                "content": [tool_use("toolu_01", "get_weather", {"city": "Paris"})],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01",
                        "content": '{"sky": "sunny"}',
                    },
                    text("And in one sentence?"),
                ],
            },
        ],
        "tools": [
            {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "input_schema": WEATHER.parameters,
            }
        ],
        "tool_choice": {"type": "auto"},
    }


async def test_max_tokens_defaults_and_tool_choice_none_keeps_the_tools(
    server: StandIn, model: AnthropicModel
) -> None:
    server.queue(message(text("Sunny.")))
    await model.complete(ask(user("Weather?"), tools=(WEATHER,), tool_choice="none"))
    body = server.requests[0].body
    assert body["max_tokens"] == 1024
    assert body["tool_choice"] == {"type": "none"}
    assert [t["name"] for t in body["tools"]] == ["get_weather"]
    assert "system" not in body


async def test_an_output_schema_forces_the_answer_tool(
    server: StandIn, model: AnthropicModel
) -> None:
    schema = Forecast.model_json_schema()
    server.queue(
        message(tool_use("toolu_9", "answer", {"city": "Oslo", "high_c": 4.5, "summary": "Cold."}))
    )
    response = await model.complete(ask(user("Forecast for Oslo"), output_schema=schema))
    body = server.requests[0].body
    assert body["tools"] == [
        {"name": "answer", "description": body["tools"][0]["description"], "input_schema": schema}
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "answer"}
    assert response.tool_calls == ()
    assert Forecast.model_validate_json(response.text) == Forecast(
        city="Oslo", high_c=4.5, summary="Cold."
    )


async def test_with_real_tools_the_answer_tool_is_offered_beside_them(
    server: StandIn, model: AnthropicModel
) -> None:
    server.queue(
        message(tool_use("toolu_1", "get_weather", {"city": "Oslo"}), stop_reason="tool_use"),
        message(tool_use("toolu_2", "answer", {"city": "Oslo", "high_c": 3, "summary": "Grey."})),
    )
    request = ask(
        user("Forecast for Oslo"), tools=(WEATHER,), output_schema=Forecast.model_json_schema()
    )
    first = await model.complete(request)
    second = await model.complete(request)
    body = server.requests[0].body
    assert [t["name"] for t in body["tools"]] == ["get_weather", "answer"]
    assert body["tool_choice"] == {"type": "any"}
    assert first.text == ""
    assert first.tool_calls == (
        ToolCall(id="toolu_1", name="get_weather", arguments={"city": "Oslo"}),
    )
    assert second.tool_calls == ()
    assert Forecast.model_validate_json(second.text).high_c == 3


# -- response mapping ---------------------------------------------------------------------


async def test_text_tool_calls_and_usage_come_back(server: StandIn, model: AnthropicModel) -> None:
    server.queue(
        message(
            text("Let me check."),
            tool_use("toolu_a", "get_weather", {"city": "Rome"}),
            tool_use("toolu_b", "get_weather", {"city": "Milan"}),
            stop_reason="tool_use",
            input_tokens=321,
            output_tokens=45,
        )
    )
    response = await model.complete(ask(user("Rome and Milan?"), tools=(WEATHER,)))
    assert response.model == f"anthropic:{MODEL}" == model.name
    assert response.text == "Let me check."
    assert [(c.id, c.arguments) for c in response.tool_calls] == [
        ("toolu_a", {"city": "Rome"}),
        ("toolu_b", {"city": "Milan"}),
    ]
    assert (response.usage.input_tokens, response.usage.output_tokens) == (321, 45)
    assert response.cost == 0  # a spec's base_url is another endpoint: free unless priced


async def test_cost_comes_from_the_price_table(
    server: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The spec names no base_url, so the price table applies; the SDK's own
    # ANTHROPIC_BASE_URL variable points it at the stand-in.
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    model = AnthropicModel(ModelSpec(provider="anthropic", name=PRICED))
    server.queue(message(text("Hi."), input_tokens=1_000, output_tokens=500, model=PRICED))
    try:
        response = await model.complete(ask(user("Hi")))
    finally:
        await model.aclose()
    price = DEFAULT_PRICES[PRICED]
    expected = (1_000 * price.input_per_mtok + 500 * price.output_per_mtok) / 1_000_000
    assert response.cost == pytest.approx(expected) and expected > 0
    assert server.requests[0].body["model"] == PRICED


async def test_a_price_in_the_spec_overrides_the_table(
    server: StandIn, connect: Callable[..., AnthropicModel]
) -> None:
    model = connect(price=Price(input_per_mtok=2, output_per_mtok=10))
    server.queue(message(text("Hi."), input_tokens=1_000_000, output_tokens=100_000))
    response = await model.complete(ask(user("Hi")))
    assert response.cost == pytest.approx(3.0)


# -- streaming ----------------------------------------------------------------------------


async def test_streamed_text_reaches_on_token_and_the_response(
    server: StandIn, model: AnthropicModel
) -> None:
    server.queue(text_stream("The tide ", "turns twice ", "a day."))
    pieces: list[str] = []
    response = await model.complete(ask(user("Tides?"), on_token=pieces.append))
    assert pieces == ["The tide ", "turns twice ", "a day."]
    assert "".join(pieces) == response.text == "The tide turns twice a day."
    assert (response.usage.input_tokens, response.usage.output_tokens) == (30, 9)
    assert server.requests[0].body["stream"] is True


async def test_a_streamed_structured_answer_is_assembled_from_json_deltas(
    server: StandIn, model: AnthropicModel
) -> None:
    partial = ['{"city": "Lima", ', '"high_c": 22, "summ', 'ary": "Mild."}']
    deltas = [{"type": "input_json_delta", "partial_json": p} for p in partial]
    server.queue(stream([(tool_use("toolu_s", "answer", {}), deltas)]))
    pieces: list[str] = []
    request = ask(user("Lima?"), output_schema=Forecast.model_json_schema(), on_token=pieces.append)
    response = await model.complete(request)
    assert pieces == []
    assert Forecast.model_validate_json(response.text) == Forecast(
        city="Lima", high_c=22, summary="Mild."
    )


async def test_a_stream_cut_mid_way_is_a_retryable_server_error(
    server: StandIn, model: AnthropicModel
) -> None:
    reply = text_stream("Half ", "an answer")
    server.queue(Reply(events=reply.events, cut_after=4))
    with pytest.raises(ModelError, match=r"connection to .* failed") as caught:
        await model.complete(ask(user("Tides?"), on_token=ignore))
    assert caught.value.kind == "server" and caught.value.retryable


# -- errors -------------------------------------------------------------------------------


TOO_LONG = "prompt is too long: 208310 tokens > 200000 maximum"
OVER = "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000"
API_ERRORS = {  # id: status, error type, message, expected kind, expected message part
    "529-overloaded": (529, "overloaded_error", "Overloaded", "server", "HTTP 529.*Overloaded"),
    "500-api-error": (500, "api_error", "Internal server error", "server", "HTTP 500"),
    "401-auth": (401, "authentication_error", "invalid x-api-key", "auth", "ANTHROPIC_API_KEY"),
    "403-permission": (403, "permission_error", "not allowed", "auth", "not allowed"),
    "404-not-found": (404, "not_found_error", "no such model", "not_found", f"model '{MODEL}'"),
    "400-too-long": (400, "invalid_request_error", TOO_LONG, "context_length", "too long"),
    "400-invalid": (400, "invalid_request_error", "bad schema", "bad_request", "bad schema"),
    "400-context-limit": (400, "invalid_request_error", OVER, "context_length", "context limit"),
    "402-billing": (402, "billing_error", "credit balance is too low", "auth", "credit balance"),
    "408-timeout": (408, "timeout_error", "Request timed out", "timeout", "HTTP 408"),
    "413-too-large": (413, "request_too_large", "Request too large", "context_length", "large"),
    "422-unprocessable": (422, "invalid_request_error", "unprocessable", "other", "HTTP 422"),
    "503-unavailable": (503, "api_error", "Service unavailable", "server", "HTTP 503"),
}
RETRYABLE = {"rate_limit", "timeout", "server"}


@pytest.mark.parametrize(
    ("status", "error_type", "detail", "kind", "match"), API_ERRORS.values(), ids=API_ERRORS
)
async def test_api_errors_become_model_errors_of_a_kind(
    server: StandIn,
    model: AnthropicModel,
    status: int,
    error_type: str,
    detail: str,
    kind: str,
    match: str,
) -> None:
    server.queue(error(status, error_type, detail))
    with pytest.raises(ModelError, match=match) as caught:
        await model.complete(ask(user("Hi")))
    assert (caught.value.kind, caught.value.retryable) == (kind, kind in RETRYABLE)
    assert caught.value.retry_after is None
    assert len(server.requests) == 1  # the SDK's own retries are off


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("17", timedelta(seconds=17)),
        ("0.5", timedelta(milliseconds=500)),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),  # a date: podium reads no wall clock here
        (None, None),
    ],
)
async def test_a_rate_limit_carries_retry_after(
    server: StandIn, model: AnthropicModel, header: str | None, expected: timedelta | None
) -> None:
    headers = {"retry-after": header} if header is not None else {}
    server.queue(error(429, "rate_limit_error", "Number of requests exceeded", headers))
    with pytest.raises(ModelError, match=r"rate_limit.*Number of requests exceeded") as caught:
        await model.complete(ask(user("Hi")))
    assert caught.value.kind == "rate_limit" and caught.value.retryable
    assert caught.value.retry_after == expected


async def test_a_spend_limit_is_a_rate_limit_not_worth_retrying(
    server: StandIn, model: AnthropicModel
) -> None:
    reply = error(
        429, "rate_limit_error", "You have reached your spend limit", {"retry-after": "60"}
    )
    reply.body["error"]["details"] = {"error_code": "enforced_spend_limit_reached"}
    server.queue(reply)
    with pytest.raises(ModelError, match="spend limit") as caught:
        await model.complete(ask(user("Hi")))
    assert caught.value.kind == "rate_limit" and not caught.value.retryable


async def test_a_streamed_error_event_is_mapped_too(server: StandIn, model: AnthropicModel) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    start = text_stream("x").events or ()
    server.queue(Reply(events=(*start[:2], ("error", overloaded))))
    with pytest.raises(ModelError, match="Overloaded") as caught:
        await model.complete(ask(user("Hi"), on_token=ignore))
    assert caught.value.kind == "server" and caught.value.retryable


async def test_a_missed_deadline_is_a_timeout(
    server: StandIn, connect: Callable[..., AnthropicModel]
) -> None:
    model = connect(timeout=timedelta(milliseconds=200))
    release = threading.Event()
    server.queue(Reply(body=message(text("late")).body, hold=release))
    try:
        with pytest.raises(ModelError, match=r"timed out|did not answer") as caught:
            await model.complete(ask(user("Hi")))
    finally:
        release.set()
    assert caught.value.kind == "timeout" and caught.value.retryable


async def test_an_unreachable_server_is_a_retryable_server_error(
    connect: Callable[..., AnthropicModel],
) -> None:
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = connect(base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(ModelError, match=f"connection to http://127.0.0.1:{port} failed") as caught:
        await model.complete(ask(user("Hi")))
    assert caught.value.kind == "server" and caught.value.retryable


def test_a_missing_api_key_fails_when_the_model_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        AnthropicModel(ModelSpec(provider="anthropic", name=MODEL))
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with pytest.raises(ConfigError, match="TEAM_CLAUDE_KEY"):
        AnthropicModel(ModelSpec(provider="anthropic", name=MODEL, api_key_env="TEAM_CLAUDE_KEY"))


async def test_the_key_comes_from_the_named_variable(
    server: StandIn, connect: Callable[..., AnthropicModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEAM_CLAUDE_KEY", "sk-team")
    model = connect(api_key_env="TEAM_CLAUDE_KEY")
    server.queue(message(text("Hi.")))
    await model.complete(ask(user("Hi")))
    assert server.requests[0].headers["authorization"] == "Bearer sk-team"


async def test_concurrent_calls_share_one_client(server: StandIn, model: AnthropicModel) -> None:
    server.queue(*(message(text("ok")) for _ in range(5)))
    async with asyncio.TaskGroup() as tg:
        calls = [tg.create_task(model.complete(ask(user(f"q{i}")))) for i in range(5)]
    assert [c.result().text for c in calls] == ["ok"] * 5
    assert sorted(r.body["messages"][0]["content"][0]["text"] for r in server.requests) == [
        f"q{i}" for i in range(5)
    ]


# -- through the engine ---------------------------------------------------------------------


class Summary(BaseModel):
    title: str
    points: list[str]


@pytest.mark.parametrize("priced", [False, True], ids=["spec-base-url", "price-table"])
def test_a_workflow_runs_on_the_anthropic_adapter(
    server: StandIn, monkeypatch: pytest.MonkeyPatch, priced: bool
) -> None:
    if priced:  # no base_url in the spec: table price; the SDK's variable finds the stand-in
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        spec = ModelSpec(provider="anthropic", name=PRICED)
    else:
        spec = ModelSpec(provider="anthropic", name=PRICED, base_url=server.url)
    answer = {"title": "Tides", "points": ["Two a day", "Moon-driven"]}
    reply = message(tool_use("toolu_w", "answer", answer), input_tokens=412, output_tokens=38)
    # The engine does not close the models it builds, so a kept-alive connection would
    # outlive the run's event loop; the stand-in closes it after answering.
    server.queue(replace(reply, close=True))
    flow = podium.Workflow(
        name="brief",
        inputs={"topic": podium.InputSpec(default="tides")},
        agents=(podium.Agent(name="writer", model=spec, output_schema=Summary),),
        tasks=(
            podium.Task(id=TaskId("summary"), agent="writer", instruction="Summarize {{ topic }}"),
        ),
    )
    result = podium.run(flow, store=podium.SqliteStore(":memory:"))
    assert result.ok, result.error
    assert result.output == answer
    (called,) = [e for e in result.events if isinstance(e, ModelCalled)]
    price = DEFAULT_PRICES[PRICED]
    cost = (412 * price.input_per_mtok + 38 * price.output_per_mtok) / 1_000_000 if priced else 0
    assert (called.model, called.input_tokens, called.output_tokens) == (
        f"anthropic:{PRICED}",
        412,
        38,
    )
    assert called.cost == pytest.approx(cost)
    body = server.requests[0].body
    assert body["tool_choice"] == {"type": "tool", "name": "answer"}
    assert body["messages"][0]["content"][0]["text"].startswith("Summarize tides")
