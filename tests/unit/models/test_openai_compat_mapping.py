"""OpenAICompatModel's translations to and from the chat-completions wire format (no network)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import JsonValue

from podium.errors import ConfigError, ModelError
from podium.models.base import Message, ToolCall, ToolSpec
from podium.models.openai_compat import (
    OpenAICompatModel,
    chat_messages,
    chat_tools,
    parse_tool_call,
)
from podium.models.spec import ModelSpec

WEATHER = ToolSpec(
    name="get_weather",
    description="Get the current weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


def test_each_role_becomes_its_wire_message() -> None:
    call = ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"})
    messages = (
        Message(role="system", content="Be brief."),
        Message(role="user", content="Weather in Paris?"),
        Message(role="assistant", content="", tool_calls=(call,)),
        Message(role="tool", content="Sunny", tool_call_id="call_1"),
        Message(role="assistant", content="Sunny in Paris."),
    )

    assert chat_messages(messages) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
        {"role": "assistant", "content": "Sunny in Paris."},
    ]


def test_assistant_text_next_to_tool_calls_is_kept() -> None:
    call = ToolCall(id="c", name="add", arguments={"a": 1, "b": 2})

    (wire,) = chat_messages((Message(role="assistant", content="Adding.", tool_calls=(call,)),))

    assert wire.get("content") == "Adding."


def test_tool_message_without_its_call_id_is_refused() -> None:
    with pytest.raises(ModelError, match="tool_call_id") as caught:
        chat_messages((Message(role="tool", content="Sunny"),))

    assert caught.value.kind == "bad_request"
    assert caught.value.retryable is False


def test_tools_become_function_tools() -> None:
    assert chat_tools((WEATHER,)) == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get the current weather for a city.",
                "parameters": WEATHER.parameters,
            },
        }
    ]


def test_tool_call_arguments_are_decoded() -> None:
    call = parse_tool_call("call_9", "get_weather", '{"city": "Paris"}', model="m")

    assert call == ToolCall(id="call_9", name="get_weather", arguments={"city": "Paris"})


@pytest.mark.parametrize("arguments", ["", "  "])
def test_empty_tool_call_arguments_mean_none(arguments: str) -> None:
    assert parse_tool_call("c", "now", arguments, model="m").arguments == {}


def test_tool_call_without_an_id_gets_one_from_its_place() -> None:
    assert parse_tool_call(None, "now", "{}", model="m", index=2).id == "call_2"


@pytest.mark.parametrize(
    "arguments", ['{"city": "Par', "{city: 'Paris'}", '["Paris"]', '"Paris"', "null"]
)
def test_malformed_tool_call_arguments_are_a_retryable_model_error(arguments: str) -> None:
    with pytest.raises(ModelError, match="malformed arguments for tool 'get_weather'") as caught:
        parse_tool_call("c", "get_weather", arguments, model="127.0.0.1:smollm2")

    assert caught.value.kind == "other"
    assert caught.value.retryable is True
    assert "127.0.0.1:smollm2" in str(caught.value)


@given(st.dictionaries(st.text(), json_values, max_size=4))
def test_tool_call_arguments_survive_the_round_trip(arguments: dict[str, JsonValue]) -> None:
    call = ToolCall(id="c", name="t", arguments=arguments)
    (wire,) = chat_messages((Message(role="assistant", content="", tool_calls=(call,)),))
    sent: str = json.loads(json.dumps(wire))["tool_calls"][0]["function"]["arguments"]

    assert parse_tool_call("c", "t", sent, model="m") == call
    assert json.loads(sent) == arguments


def test_name_is_the_provider_or_host_and_the_model() -> None:
    local = ModelSpec(provider="openai", name="qwen2.5:7b", base_url="http://127.0.0.1:11434/v1")

    assert OpenAICompatModel(local).name == "127.0.0.1:qwen2.5:7b"


def test_hosted_api_without_a_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAICompatModel(ModelSpec(provider="openai", name="gpt-4o-mini"))


def test_key_variable_of_the_spec_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    spec = ModelSpec(
        provider="openai",
        name="llama-3",
        base_url="https://api.together.xyz/v1",
        api_key_env="TOGETHER_API_KEY",
    )

    with pytest.raises(ConfigError, match=re.escape("TOGETHER_API_KEY")):
        OpenAICompatModel(spec)


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8080/v1", "http://localhost:11434/v1", "http://192.168.1.5:8000/v1"],
)
def test_local_servers_need_no_key(monkeypatch: pytest.MonkeyPatch, base_url: str) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    model = OpenAICompatModel(ModelSpec(provider="openai", name="m", base_url=base_url))

    assert model.name.endswith(":m")


def test_hosted_api_is_named_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    assert OpenAICompatModel(ModelSpec(provider="openai", name="gpt-4o-mini")).name == (
        "openai:gpt-4o-mini"
    )
