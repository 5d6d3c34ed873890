"""The Anthropic adapter's pure mappings: requests to Messages API parameters, responses and
errors back. Over HTTP, against a stand-in server: ``tests/integration/test_anthropic.py``."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import anthropic
import pytest
from anthropic.types import Message as AnthropicMessage
from pydantic import BaseModel

from podium.errors import ModelError
from podium.models.anthropic import build_call, read_response, translate_error
from podium.models.base import Message, ModelRequest, ToolCall, ToolSpec
from podium.models.pricing import FREE
from podium.models.spec import ModelSpec, Price

MODEL = "claude-haiku-4-5"
SPEC = ModelSpec(provider="anthropic", name=MODEL, timeout=timedelta(seconds=45))

Json = dict[str, Any]  # Any: wire-shaped JSON


class Verdict(BaseModel):
    approved: bool
    reason: str


SEARCH = ToolSpec(
    name="search",
    description="Search the web.",
    parameters={"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
)
VERDICT_SCHEMA = Verdict.model_json_schema()


def params(*messages: Message, **fields: Any) -> Json:  # Any: ModelRequest fields
    call = build_call(ModelRequest(messages=messages, **fields), model=MODEL)
    return dict(call.params)


def user(content: str) -> Message:
    return Message(role="user", content=content)


def text(value: str) -> Json:
    return {"type": "text", "text": value}


def anthropic_message(
    *content: Json, input_tokens: int = 10, output_tokens: int = 4
) -> AnthropicMessage:
    return AnthropicMessage.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": list(content),
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }
    )


def tool_use(call_id: str, name: str, arguments: Json) -> Json:
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


# -- messages -----------------------------------------------------------------------------


def test_a_plain_prompt_maps_to_the_minimal_body() -> None:
    assert params(user("Hello")) == {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": [text("Hello")]}],
    }


def test_system_messages_are_joined_into_the_system_parameter() -> None:
    body = params(
        Message(role="system", content="You are terse."),
        user("Hi"),
        Message(role="system", content="Answer in French."),
        Message(role="system", content="   "),
        max_output_tokens=64,
    )
    assert body["system"] == "You are terse.\n\nAnswer in French."
    assert body["max_tokens"] == 64
    assert body["messages"] == [{"role": "user", "content": [text("Hi")]}]


def test_consecutive_turns_of_a_role_are_merged_so_roles_alternate() -> None:
    body = params(
        user("First."),
        user("Second."),
        Message(role="assistant", content="Reply."),
        Message(role="assistant", content="More."),
        user("Third."),
    )
    assert body["messages"] == [
        {"role": "user", "content": [text("First."), text("Second.")]},
        {"role": "assistant", "content": [text("Reply."), text("More.")]},
        {"role": "user", "content": [text("Third.")]},
    ]


def test_tool_calls_and_results_become_tool_use_and_tool_result_blocks() -> None:
    calls = (
        ToolCall(id="toolu_1", name="search", arguments={"q": "tides"}),
        ToolCall(id="toolu_2", name="search", arguments={"q": "moon"}),
    )
    body = params(
        user("Research tides."),
        Message(role="assistant", content="Searching.", tool_calls=calls),
        Message(role="tool", content="two a day", tool_call_id="toolu_1"),
        Message(role="tool", content="it pulls", tool_call_id="toolu_2"),
        tools=(SEARCH,),
    )
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                text("Searching."),
                tool_use("toolu_1", "search", {"q": "tides"}),
                tool_use("toolu_2", "search", {"q": "moon"}),
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "two a day"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "it pulls"},
            ],
        },
    ]


def test_an_assistant_turn_with_only_tool_calls_has_no_empty_text_block() -> None:
    call = ToolCall(id="toolu_1", name="search", arguments={"q": "x"})
    body = params(user("Go"), Message(role="assistant", content="", tool_calls=(call,)))
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [tool_use("toolu_1", "search", {"q": "x"})],
    }


def test_tool_results_come_before_text_in_a_merged_user_turn() -> None:
    call = ToolCall(id="toolu_1", name="search", arguments={"q": "x"})
    body = params(
        Message(role="assistant", content="", tool_calls=(call,)),
        user("Use the result."),
        Message(role="tool", content="found", tool_call_id="toolu_1"),
    )
    assert [b["type"] for b in body["messages"][1]["content"]] == ["tool_result", "text"]


def test_a_tool_message_without_its_call_id_is_refused() -> None:
    with pytest.raises(ModelError, match="tool_call_id") as caught:
        params(user("Hi"), Message(role="tool", content="result"))
    assert caught.value.kind == "bad_request" and not caught.value.retryable


# -- tools and structured output ----------------------------------------------------------


def test_tools_map_to_input_schemas_with_auto_or_none_choice() -> None:
    auto = params(user("Find it"), tools=(SEARCH,))
    assert auto["tools"] == [
        {"name": "search", "description": "Search the web.", "input_schema": SEARCH.parameters}
    ]
    assert auto["tool_choice"] == {"type": "auto"}
    none = params(user("Find it"), tools=(SEARCH,), tool_choice="none")
    assert none["tools"] == auto["tools"]
    assert none["tool_choice"] == {"type": "none"}


def test_an_output_schema_alone_forces_the_answer_tool() -> None:
    call = build_call(
        ModelRequest(messages=(user("Judge"),), output_schema=VERDICT_SCHEMA), model=MODEL
    )
    assert call.answer_tool == "answer"
    (tool,) = call.params.get("tools", [])
    assert tool == {
        "name": "answer",
        "description": tool.get("description"),
        "input_schema": VERDICT_SCHEMA,
    }
    assert call.params.get("tool_choice") == {"type": "tool", "name": "answer"}


def test_with_tools_the_model_must_call_one_of_them_or_answer() -> None:
    body = params(user("Judge"), tools=(SEARCH,), output_schema=VERDICT_SCHEMA)
    assert [t["name"] for t in body["tools"]] == ["search", "answer"]
    assert body["tool_choice"] == {"type": "any"}


def test_told_not_to_call_tools_it_must_answer() -> None:
    body = params(user("Judge"), tools=(SEARCH,), tool_choice="none", output_schema=VERDICT_SCHEMA)
    assert [t["name"] for t in body["tools"]] == ["search", "answer"]
    assert body["tool_choice"] == {"type": "tool", "name": "answer"}


def test_the_answer_tool_steps_aside_for_a_real_tool_of_that_name() -> None:
    answer = ToolSpec(
        name="answer", description="Look up an answer.", parameters={"type": "object"}
    )
    call = build_call(
        ModelRequest(messages=(user("Q"),), tools=(answer,), output_schema=VERDICT_SCHEMA),
        model=MODEL,
    )
    assert call.answer_tool == "final_answer"
    assert [t.get("name") for t in call.params.get("tools", [])] == ["answer", "final_answer"]


# -- responses ----------------------------------------------------------------------------


def test_text_blocks_are_joined_and_tool_uses_become_tool_calls() -> None:
    response = read_response(
        anthropic_message(
            text("Part one. "),
            text("Part two."),
            tool_use("toolu_1", "search", {"q": "tides", "limit": 3}),
        ),
        name=f"anthropic:{MODEL}",
        answer_tool=None,
        price=FREE,
    )
    assert response.model == f"anthropic:{MODEL}"
    assert response.text == "Part one. Part two."
    assert response.tool_calls == (
        ToolCall(id="toolu_1", name="search", arguments={"q": "tides", "limit": 3}),
    )


def test_a_call_to_the_answer_tool_is_the_final_json_answer() -> None:
    verdict: Json = {"approved": True, "reason": "Sound — and cheap."}
    response = read_response(
        anthropic_message(
            text("Here is my verdict."),
            tool_use("toolu_1", "search", {"q": "more"}),
            tool_use("toolu_2", "answer", verdict),
        ),
        name="m",
        answer_tool="answer",
        price=FREE,
    )
    assert response.tool_calls == ()
    assert json.loads(response.text) == verdict
    assert Verdict.model_validate_json(response.text) == Verdict.model_validate(verdict)


def test_without_an_answer_tool_a_tool_named_answer_is_just_a_tool() -> None:
    response = read_response(
        anthropic_message(tool_use("toolu_1", "answer", {"q": "x"})),
        name="m",
        answer_tool=None,
        price=FREE,
    )
    assert [c.name for c in response.tool_calls] == ["answer"]


def test_usage_and_cost_come_from_the_message() -> None:
    response = read_response(
        anthropic_message(text("ok"), input_tokens=2_000, output_tokens=300),
        name="m",
        answer_tool=None,
        price=Price(input_per_mtok=3, output_per_mtok=15),
    )
    assert (response.usage.input_tokens, response.usage.output_tokens) == (2_000, 300)
    assert response.cost == pytest.approx((2_000 * 3 + 300 * 15) / 1_000_000)


# -- errors that need no HTTP response (the HTTP ones: tests/integration) ------------------


def test_a_missed_deadline_names_the_model_and_its_timeout() -> None:
    error = translate_error(TimeoutError(), SPEC)
    assert error.kind == "timeout" and error.retryable
    assert f"anthropic:{MODEL}" in error.message and "45s" in error.message


def test_an_unclassified_sdk_error_fails_fast() -> None:
    error = translate_error(anthropic.AnthropicError("credentials file unreadable"), SPEC)
    assert error.kind == "other" and not error.retryable
    assert "credentials file unreadable" in error.message
