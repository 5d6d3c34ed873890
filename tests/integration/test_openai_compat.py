"""OpenAICompatModel against real servers on 127.0.0.1 (see ``conftest.py``).

Most tests talk to llama-cpp-python's OpenAI-compatible server running the embedded
SmolLM2-135M-Instruct (``llama_server``), or the same server with a chat format that implements
``tools`` (``llama_tools_server``). That server serves its one model under any name and never
sends 429s, 500s or streamed tool calls, so those cases use ``stub_openai``, a small HTTP server
in the test process that answers with OpenAI's own error bodies and headers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Literal

import pytest
from pydantic import BaseModel, JsonValue

import podium
from podium.errors import ModelError
from podium.ids import TaskId
from podium.models.base import Message, ModelRequest, ToolCall, ToolSpec
from podium.models.openai_compat import OpenAICompatModel
from podium.models.spec import ModelSpec
from podium.testing.clock import ManualClock

if TYPE_CHECKING:
    from tests.integration.conftest import StubOpenAI

pytestmark = pytest.mark.slow


class City(BaseModel):
    city: str
    country: str


class WeatherArgs(BaseModel):
    city: str


WEATHER = ToolSpec(
    name="get_weather",
    description="Get the current weather for a city.",
    parameters=WeatherArgs.model_json_schema(),
)


def spec(base_url: str, **fields: Any) -> ModelSpec:  # Any: ModelSpec fields
    return ModelSpec(provider="openai", name="smollm2", base_url=base_url, **fields)


def ask(
    text: str,
    *,
    system: str | None = None,
    tools: tuple[ToolSpec, ...] = (),
    tool_choice: Literal["auto", "none"] = "auto",
    output_schema: dict[str, JsonValue] | None = None,
    max_output_tokens: int = 32,
    on_token: Callable[[str], None] | None = None,
) -> ModelRequest:
    """A one-question request, answered greedily (temperature 0) for repeatable answers."""
    messages = (Message(role="user", content=text),)
    if system is not None:
        messages = (Message(role="system", content=system), *messages)
    return ModelRequest(
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        output_schema=output_schema,
        max_output_tokens=max_output_tokens,
        temperature=0.0,
        on_token=on_token,
    )


@pytest.fixture
async def llama(llama_server: str) -> AsyncIterator[OpenAICompatModel]:
    model = OpenAICompatModel(spec(llama_server))
    yield model
    await model.aclose()


@pytest.fixture
async def llama_tools(llama_tools_server: str) -> AsyncIterator[OpenAICompatModel]:
    model = OpenAICompatModel(spec(llama_tools_server))
    yield model
    await model.aclose()


@pytest.fixture
async def stub_model(stub_openai: StubOpenAI) -> AsyncIterator[OpenAICompatModel]:
    model = OpenAICompatModel(spec(stub_openai.base_url))
    yield model
    await model.aclose()


def fallbacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "not asking again" in r.getMessage()]


def completion(text: str | None = "", **message: Any) -> dict[str, Any]:  # Any: JSON
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "smollm2",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, **message},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }


def chunk(
    delta: dict[str, Any] | None,  # Any: JSON; None: the last chunk, without choices
    *,
    finish_reason: str | None = None,
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:  # Any: JSON
    choices = (
        [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    )
    head = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "smollm2"}
    return head | {"choices": choices, "usage": usage}


def error_body(message: str, *, type_: str, code: str | None) -> dict[str, Any]:  # Any: JSON
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


# --- the real llama-cpp-python server ---------------------------------------------------------


async def test_chat_completion_has_text_usage_and_costs_nothing(llama: OpenAICompatModel) -> None:
    response = await llama.complete(ask("What is the capital of France?"))

    assert llama.name == "127.0.0.1:smollm2"
    assert response.model == "127.0.0.1:smollm2"
    assert response.text.strip()
    assert response.tool_calls == ()
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert response.cost == 0.0  # a base_url means a self-hosted server: free


async def test_streamed_pieces_add_up_to_the_answer(llama: OpenAICompatModel) -> None:
    pieces: list[str] = []

    response = await llama.complete(ask("Name three colors.", on_token=pieces.append))

    assert len(pieces) > 1
    assert "".join(pieces) == response.text
    assert response.text.strip()
    # llama-cpp-python sends no usage when streaming: the adapter estimates it
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0


async def test_structured_output_falls_back_to_json_object_with_the_schema(
    llama: OpenAICompatModel, caplog: pytest.LogCaptureFixture
) -> None:
    request = ask(
        "Name a city and its country.",
        output_schema=City.model_json_schema(),
        max_output_tokens=64,
    )

    with caplog.at_level(logging.WARNING, logger="podium.models.openai_compat"):
        first = await llama.complete(request)
        second = await llama.complete(request)

    City.model_validate_json(first.text)
    City.model_validate_json(second.text)
    # llama-cpp-python rejects response_format json_schema (with a 500): the first call fell
    # back to json_object with the schema, and the second asked for that straight away
    (fallback,) = fallbacks(caplog)
    assert "rejects json_schema" in fallback


async def test_tool_call_on_the_function_calling_server(llama_tools: OpenAICompatModel) -> None:
    response = await llama_tools.complete(
        ask(
            "What is the weather in Paris?", system="You are a helpful assistant.", tools=(WEATHER,)
        )
    )

    (call,) = response.tool_calls
    assert call.name == "get_weather"
    assert call.id
    assert WeatherArgs.model_validate(call.arguments).city
    assert response.usage.input_tokens > 0


async def test_tool_choice_none_gets_text(llama_tools: OpenAICompatModel) -> None:
    request = ask("What is the weather in Paris?", tools=(WEATHER,), tool_choice="none")

    response = await llama_tools.complete(request)

    assert response.tool_calls == ()
    assert response.text.strip()


async def test_tool_call_when_streaming_is_refused_falls_back_to_a_plain_call(
    llama_tools: OpenAICompatModel, caplog: pytest.LogCaptureFixture
) -> None:
    # llama-cpp-python cannot stream with tool_choice auto: it ends the stream without a chunk
    pieces: list[str] = []
    request = ask("What is the weather in Paris?", tools=(WEATHER,), on_token=pieces.append)

    with caplog.at_level(logging.WARNING, logger="podium.models.openai_compat"):
        response = await llama_tools.complete(request)

    (call,) = response.tool_calls
    assert call.name == "get_weather"
    (fallback,) = fallbacks(caplog)
    assert "rejects stream_with_tools" in fallback


async def test_prompt_beyond_the_context_window_is_a_context_length_error(
    llama: OpenAICompatModel,
) -> None:
    with pytest.raises(ModelError, match="maximum context length") as caught:
        await llama.complete(ask("word " * 3000))

    assert caught.value.kind == "context_length"
    assert caught.value.retryable is False


async def test_nothing_listening_is_a_retryable_server_error(refused_port: int) -> None:
    model = OpenAICompatModel(spec(f"http://127.0.0.1:{refused_port}/v1"))
    try:
        with pytest.raises(ModelError, match=f"cannot reach .*127.0.0.1:{refused_port}") as caught:
            await model.complete(ask("Hello"))
    finally:
        await model.aclose()

    assert caught.value.kind == "server"
    assert caught.value.retryable is True


def test_a_workflow_runs_on_the_server_through_the_engine(llama_server: str) -> None:
    agent = podium.Agent(name="writer", model=spec(llama_server), max_output_tokens=24)
    flow = podium.Workflow(
        name="greet",
        agents=(agent,),
        tasks=(podium.Task(id=TaskId("hello"), agent="writer", instruction="Say hello to Ada."),),
    )

    result = podium.run(flow, store=podium.SqliteStore(":memory:"))

    assert result.ok, result.error
    assert isinstance(result.output, str) and result.output.strip()
    (called,) = [e for e in result.events if e.kind == "model_called"]
    assert called.model == "127.0.0.1:smollm2"  # type: ignore[attr-defined]
    assert called.input_tokens > 0  # type: ignore[attr-defined]


# --- the stub server: OpenAI's error replies and streamed tool calls --------------------------


async def test_unknown_model_is_not_found_naming_model_and_url(
    stub_openai: StubOpenAI,
) -> None:
    body = error_body(
        "The model `nope` does not exist", type_="invalid_request_error", code="model_not_found"
    )
    stub_openai.reply(404, body)
    model = OpenAICompatModel(
        ModelSpec(provider="openai", name="nope", base_url=stub_openai.base_url)
    )
    try:
        with pytest.raises(ModelError, match="nope") as caught:
            await model.complete(ask("Hello"))
    finally:
        await model.aclose()

    assert caught.value.kind == "not_found"
    assert caught.value.retryable is False
    assert stub_openai.base_url in str(caught.value)
    assert "does not exist" in str(caught.value)


async def test_rate_limit_carries_retry_after(
    stub_openai: StubOpenAI, stub_model: OpenAICompatModel
) -> None:
    body = error_body("Rate limit reached", type_="requests", code="rate_limit_exceeded")
    stub_openai.reply(429, body, headers={"Retry-After": "3"})

    with pytest.raises(ModelError, match="Rate limit reached") as caught:
        await stub_model.complete(ask("Hello"))

    assert caught.value.kind == "rate_limit"
    assert caught.value.retryable is True
    assert caught.value.retry_after == timedelta(seconds=3)


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after-ms": "1500", "Retry-After": "2"}, timedelta(milliseconds=1500)),
        (
            {
                "Retry-After": format_datetime(
                    datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC), usegmt=True
                )
            },
            timedelta(seconds=90),
        ),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
async def test_retry_after_in_milliseconds_or_as_a_date(
    stub_openai: StubOpenAI, headers: dict[str, str], wait: timedelta | None
) -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    model = OpenAICompatModel(spec(stub_openai.base_url), clock=clock)
    body = error_body("Slow down", type_="requests", code=None)
    stub_openai.reply(429, body, headers=headers)
    try:
        with pytest.raises(ModelError) as caught:
            await model.complete(ask("Hello"))
    finally:
        await model.aclose()

    assert caught.value.kind == "rate_limit"
    assert caught.value.retry_after == wait


async def test_exhausted_quota_is_not_retryable(
    stub_openai: StubOpenAI, stub_model: OpenAICompatModel
) -> None:
    body = error_body(
        "You exceeded your current quota", type_="insufficient_quota", code="insufficient_quota"
    )
    stub_openai.reply(429, body)

    with pytest.raises(ModelError, match="billing") as caught:
        await stub_model.complete(ask("Hello"))

    assert caught.value.kind == "rate_limit"
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    ("status", "body", "kind", "retryable"),
    [
        (
            500,
            error_body("The server had an error", type_="server_error", code=None),
            "server",
            True,
        ),
        (503, {"error": "overloaded"}, "server", True),
        (
            401,
            error_body(
                "Incorrect API key provided", type_="invalid_request_error", code="invalid_api_key"
            ),
            "auth",
            False,
        ),
        (
            400,
            error_body("Invalid value for 'temperature'", type_="invalid_request_error", code=None),
            "bad_request",
            False,
        ),
    ],
)
async def test_http_errors_map_to_kinds(
    stub_openai: StubOpenAI,
    stub_model: OpenAICompatModel,
    status: int,
    body: Any,  # Any: JSON
    kind: str,
    retryable: bool,
) -> None:
    stub_openai.reply(status, body)

    with pytest.raises(ModelError, match=f"HTTP {status}") as caught:
        await stub_model.complete(ask("Hello"))

    assert caught.value.kind == kind
    assert caught.value.retryable is retryable


async def test_own_deadline_is_a_timeout(stub_openai: StubOpenAI) -> None:
    model = OpenAICompatModel(spec(stub_openai.base_url, timeout=timedelta(milliseconds=200)))
    stub_openai.reply(200, completion("late"), hold=True)
    try:
        with pytest.raises(ModelError, match=r"timed out|did not answer") as caught:
            await model.complete(ask("Hello"))
    finally:
        await model.aclose()

    assert caught.value.kind == "timeout"
    assert caught.value.retryable is True


async def test_streamed_tool_call_deltas_are_assembled_by_index(
    stub_openai: StubOpenAI, stub_model: OpenAICompatModel
) -> None:
    first = {"index": 0, "id": "call_a", "type": "function"}
    second = {"index": 1, "id": "call_b", "type": "function"}
    usage = {"prompt_tokens": 11, "completion_tokens": 9, "total_tokens": 20}
    stub_openai.reply(
        events=(
            chunk({"role": "assistant", "content": "Checking"}),
            chunk({"tool_calls": [first | {"function": {"name": "get_weather", "arguments": ""}}]}),
            chunk({"tool_calls": [second | {"function": {"name": "get_weather"}}]}),
            chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"ci'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Paris"}'}}]}),
            chunk({"tool_calls": [{"index": 1, "function": {"arguments": 'ty": "Rome"}'}}]}),
            chunk({}, finish_reason="tool_calls"),
            chunk(None, usage=usage),
        )
    )
    pieces: list[str] = []

    response = await stub_model.complete(ask("Weather?", tools=(WEATHER,), on_token=pieces.append))

    assert pieces == ["Checking"]
    assert response.text == "Checking"
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "get_weather", {"city": "Rome"}),
    ]
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 9)
    (sent,) = stub_openai.requests
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["tool_choice"] == "auto"


async def test_rejected_stream_options_are_not_sent_again(
    stub_openai: StubOpenAI, stub_model: OpenAICompatModel
) -> None:
    rejected = error_body(
        "Unrecognized request argument supplied: stream_options",
        type_="invalid_request_error",
        code=None,
    )
    stub_openai.reply(400, rejected)
    for _ in range(2):
        stub_openai.reply(events=(chunk({"content": "Hi"}), chunk({}, finish_reason="stop")))
    pieces: list[str] = []

    first = await stub_model.complete(ask("Hello", on_token=pieces.append))
    second = await stub_model.complete(ask("Hello", on_token=pieces.append))

    assert (first.text, second.text, pieces) == ("Hi", "Hi", ["Hi", "Hi"])
    assert ["stream_options" in r for r in stub_openai.requests] == [True, False, False]


async def test_rejected_json_schema_falls_back_to_json_object_and_a_schema_hint(
    stub_openai: StubOpenAI, stub_model: OpenAICompatModel
) -> None:
    rejected = error_body(
        "Invalid parameter: 'response_format' of type 'json_schema' is not supported",
        type_="invalid_request_error",
        code=None,
    )
    answer = '{"city": "Paris", "country": "France"}'
    stub_openai.reply(400, rejected)
    stub_openai.reply(200, completion(answer))
    schema = City.model_json_schema()

    response = await stub_model.complete(ask("A city?", system="Be brief.", output_schema=schema))

    assert City.model_validate_json(response.text) == City(city="Paris", country="France")
    asked, retried = stub_openai.requests
    assert asked["response_format"]["type"] == "json_schema"
    assert asked["response_format"]["json_schema"]["schema"] == schema
    assert retried["response_format"] == {"type": "json_object", "schema": schema}
    system = retried["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("Be brief.\n\n")
    assert '"country"' in system["content"]
    assert len(retried["messages"]) == 2


async def test_malformed_tool_arguments_are_a_retryable_error(
    stub_openai: StubOpenAI, stub_model: OpenAICompatModel
) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{"}}
    stub_openai.reply(200, completion(None, tool_calls=[call]))

    with pytest.raises(ModelError, match="malformed arguments for tool 'get_weather'") as caught:
        await stub_model.complete(ask("Weather?", tools=(WEATHER,)))

    assert caught.value.kind == "other"
    assert caught.value.retryable is True


async def test_conversation_with_tool_results_goes_out_in_openai_shape(
    stub_openai: StubOpenAI, stub_model: OpenAICompatModel
) -> None:
    stub_openai.reply(200, completion("Sunny in Paris."))
    call = ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"})
    request = ModelRequest(
        messages=(
            Message(role="user", content="Weather in Paris?"),
            Message(role="assistant", content="", tool_calls=(call,)),
            Message(role="tool", content="Sunny", tool_call_id="call_1"),
        ),
        tools=(WEATHER,),
        max_output_tokens=16,
        temperature=0.0,
    )

    response = await stub_model.complete(request)

    assert response.text == "Sunny in Paris."
    assert (response.usage.input_tokens, response.usage.output_tokens) == (7, 3)
    (sent,) = stub_openai.requests
    assert sent["model"] == "smollm2"
    assert sent["max_tokens"] == 16 and "max_completion_tokens" not in sent
    assert sent["temperature"] == 0.0
    assert sent["messages"][1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"}
    assert sent["tools"][0]["function"]["name"] == "get_weather"
