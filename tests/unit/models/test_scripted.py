"""ScriptedModel: replies from lists, mappings, functions; exhaustion; latency; plausible JSON."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, JsonValue, ValidationError, create_model

from podium.errors import ModelError
from podium.models.base import CallInfo, Message, ModelRequest, ModelResponse, ToolCall, Usage
from podium.models.scripted import ScriptedModel, model_output
from podium.testing.clock import ManualClock


def _request(
    task: str | None = None,
    *,
    agent: str = "writer",
    content: str = "Write about tides",
    schema: type[BaseModel] | None = None,
) -> ModelRequest:
    caller = CallInfo(run_id="r1", task_id=task, agent=agent) if task is not None else None
    return ModelRequest(
        messages=(
            Message(role="system", content="You are a writer."),
            Message(role="user", content=content),
        ),
        output_schema=schema.model_json_schema() if schema is not None else None,
        caller=caller,
    )


async def _texts(model: ScriptedModel, *requests: ModelRequest) -> list[str]:
    return [(await model.complete(r)).text for r in requests]


# -- scripts -----------------------------------------------------------------------------------


async def test_a_list_is_answered_in_order() -> None:
    model = ScriptedModel(["first", "second"])
    assert await _texts(model, _request(), _request("any-task")) == ["first", "second"]
    model.assert_complete()


async def test_json_replies_become_json_text() -> None:
    model = ScriptedModel([{"approved": True, "note": "café"}, [1, "two", None]])
    assert await _texts(model, _request(), _request()) == [
        '{"approved": true, "note": "café"}',
        '[1, "two", null]',
    ]


async def test_a_tool_call_reply_is_a_response_with_that_call() -> None:
    call = ToolCall(id="c1", name="search", arguments={"query": "tides"})
    response = await ScriptedModel([call]).complete(_request())
    assert (response.text, response.tool_calls) == ("", (call,))
    assert response.usage.output_tokens == 8


async def test_a_full_response_is_returned_as_it_is() -> None:
    canned = ModelResponse(model="other", text="hi", usage=Usage(input_tokens=1), cost=0.5)
    assert await ScriptedModel([canned]).complete(_request()) is canned


async def test_a_mapping_answers_by_task_id() -> None:
    model = ScriptedModel({"draft": ["v1", "v2"], "review": [{"approved": True}]})
    texts = await _texts(model, _request("draft"), _request("review"), _request("draft"))
    assert texts == ["v1", '{"approved": true}', "v2"]
    model.assert_complete()


async def test_a_map_item_uses_the_replies_of_its_base_task() -> None:
    model = ScriptedModel({"extract": ["one", "two"]})
    assert await _texts(model, _request("extract[2]"), _request("extract[0]")) == ["one", "two"]


async def test_a_loop_body_task_uses_the_replies_of_its_own_id() -> None:
    model = ScriptedModel({"draft": ["v1"], "revise": ["never"]})
    assert await _texts(model, _request("revise/draft")) == ["v1"]


async def test_a_task_in_nested_loops_uses_its_last_path_segment() -> None:
    model = ScriptedModel({"draft": ["v1"]})
    assert await _texts(model, _request("outer/revise/draft")) == ["v1"]


async def test_a_nested_map_item_in_a_loop_uses_its_base_task() -> None:
    model = ScriptedModel({"extract": ["e"]})
    assert await _texts(model, _request("revise/extract[1]")) == ["e"]


async def test_the_full_task_id_wins_over_the_base_id() -> None:
    model = ScriptedModel({"extract[1]": ["exact"], "extract": ["base"]})
    assert await _texts(model, _request("extract[1]"), _request("extract[0]")) == ["exact", "base"]


async def test_a_mapping_answers_by_agent_name() -> None:
    model = ScriptedModel({"critic": ["looks fine"]})
    assert await _texts(model, _request("review", agent="critic")) == ["looks fine"]


async def test_an_empty_key_answers_whoever_is_left() -> None:
    model = ScriptedModel({"draft": ["v1"], "": ["fallback"]})
    assert await _texts(model, _request("summary")) == ["fallback"]


async def test_a_sync_function_answers_each_request() -> None:
    model = ScriptedModel(lambda request: request.messages[-1].content.upper())
    assert await _texts(model, _request(content="abc"), _request(content="xyz")) == ["ABC", "XYZ"]
    model.assert_complete()


async def test_an_async_function_answers_each_request() -> None:
    async def answer(request: ModelRequest) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"task": request.caller.task_id if request.caller else None}

    model = ScriptedModel(answer)
    assert await _texts(model, _request("draft")) == ['{"task": "draft"}']


async def test_a_reply_that_is_an_exception_is_raised() -> None:
    busy = ModelError("busy", retryable=True)
    model = ScriptedModel(["first", busy, "after"])
    assert await _texts(model, _request()) == ["first"]
    with pytest.raises(ModelError, match=r"^busy$") as caught:
        await model.complete(_request())
    assert caught.value is busy
    assert await _texts(model, _request()) == ["after"]


async def test_a_function_may_return_an_exception_to_raise() -> None:
    model = ScriptedModel(lambda request: TimeoutError("slow"))
    with pytest.raises(TimeoutError, match="slow"):
        await model.complete(_request())


# -- exhaustion --------------------------------------------------------------------------------


async def test_when_exhausted_error_raises_a_model_error_naming_the_task() -> None:
    model = ScriptedModel({"draft": ["v1"]})
    await model.complete(_request("draft"))
    with pytest.raises(ModelError, match=r"^scripted model has no reply left for draft$") as caught:
        await model.complete(_request("draft"))
    assert caught.value.retryable is False


async def test_an_unknown_task_is_an_error() -> None:
    with pytest.raises(ModelError, match="no reply left for summary"):
        await ScriptedModel({"draft": ["v1"]}).complete(_request("summary"))


async def test_an_anonymous_request_is_an_error_once_the_list_is_used() -> None:
    model = ScriptedModel(["only"])
    await model.complete(_request())
    with pytest.raises(ModelError, match="no reply left for this request"):
        await model.complete(_request())


async def test_no_script_at_all_is_an_error() -> None:
    with pytest.raises(ModelError, match="no reply left"):
        await ScriptedModel().complete(_request("draft"))


async def test_when_exhausted_repeat_last_repeats_per_key() -> None:
    model = ScriptedModel({"draft": ["v1", "v2"], "review": ["ok"]}, when_exhausted="repeat_last")
    texts = await _texts(
        model, _request("draft"), _request("draft"), _request("draft"), _request("review"),
        _request("review"),
    )  # fmt: skip
    assert texts == ["v1", "v2", "v2", "ok", "ok"]


async def test_repeat_last_with_nothing_said_yet_is_an_error() -> None:
    model = ScriptedModel({"draft": ["v1"]}, when_exhausted="repeat_last")
    with pytest.raises(ModelError, match="no reply left for review"):
        await model.complete(_request("review"))


async def test_when_exhausted_plausible_makes_up_text_from_the_request() -> None:
    model = ScriptedModel(["scripted"], when_exhausted="plausible")
    first, made_up = await _texts(
        model, _request("draft"), _request("draft", agent="critic", content="Review it\nplease")
    )
    assert first == "scripted"
    assert made_up == "Critic notes on: Review it\n- Key point one.\n- Key point two."


async def test_the_plausible_constructor_mixes_canned_and_made_up_answers() -> None:
    model = ScriptedModel.plausible({"draft": ["canned"]})
    texts = await _texts(model, _request("draft"), _request("draft"))
    assert texts[0] == "canned"
    assert texts[1].startswith("Writer notes on: Write about tides")
    model.assert_complete()


async def test_echo_answers_with_the_last_message() -> None:
    model = ScriptedModel.echo()
    assert await _texts(model, _request(content="ping")) == ["ping"]


# -- assert_complete and calls -----------------------------------------------------------------


async def test_assert_complete_fails_while_replies_are_left() -> None:
    model = ScriptedModel({"draft": ["v1", "v2"], "review": ["ok"]})
    await model.complete(_request("draft"))
    with pytest.raises(
        AssertionError, match=r"scripted replies never used: \{'draft': 1, 'review': 1\}"
    ):
        model.assert_complete()
    await _texts(model, _request("draft"), _request("review"))
    model.assert_complete()


async def test_calls_records_every_request_in_order() -> None:
    model = ScriptedModel(["a", ModelError("no"), "c"])
    requests = [_request("t1"), _request("t2"), _request("t3")]
    await model.complete(requests[0])
    with pytest.raises(ModelError):
        await model.complete(requests[1])
    await model.complete(requests[2])
    assert model.calls == requests


async def test_the_response_names_the_model_and_counts_tokens() -> None:
    model = ScriptedModel(["a short answer"], name="fake-gpt")
    response = await model.complete(_request())
    assert model.name == "fake-gpt"
    assert response.model == "fake-gpt"
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert response.cost == 0.0


async def test_longer_prompts_count_more_input_tokens() -> None:
    model = ScriptedModel(["x", "x"])
    short = await model.complete(_request(content="hi"))
    long = await model.complete(_request(content="hi " * 200))
    assert long.usage.input_tokens > short.usage.input_tokens


# -- latency -----------------------------------------------------------------------------------


async def _until_sleeping(clock: ManualClock, count: int) -> None:
    """Let the loop run until ``count`` tasks sleep on ``clock`` (bounded, no wall time)."""
    for _ in range(100):
        if clock.sleepers == count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"expected {count} sleepers, found {clock.sleepers}")


async def test_latency_waits_on_the_injected_clock() -> None:
    clock = ManualClock()
    model = ScriptedModel(["late"], latency=timedelta(seconds=2), clock=clock)

    async with asyncio.TaskGroup() as tg:
        call = tg.create_task(model.complete(_request()))
        await _until_sleeping(clock, 1)
        assert not call.done()
        assert len(model.calls) == 1

        clock.advance(timedelta(seconds=1.5))
        await asyncio.sleep(0)
        assert not call.done()
        assert clock.sleepers == 1

        clock.advance(timedelta(seconds=0.5))
    assert call.result().text == "late"
    assert clock.sleepers == 0


async def test_concurrent_calls_each_wait_their_latency() -> None:
    clock = ManualClock()
    model = ScriptedModel.echo(latency=timedelta(seconds=1), clock=clock)
    async with asyncio.TaskGroup() as tg:
        calls = [tg.create_task(model.complete(_request(content=c))) for c in "abc"]
        await _until_sleeping(clock, 3)
        assert clock.next_deadline() == timedelta(seconds=1)
        clock.advance(timedelta(seconds=1))
    assert sorted(c.result().text for c in calls) == ["a", "b", "c"]


# -- plausible structured answers --------------------------------------------------------------


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class Item(BaseModel):
    name: str
    quantity: int
    colour: Colour


class Review(BaseModel):
    approved: bool
    score: float = Field(ge=0, le=10)
    verdict: Literal["accept", "revise", "reject"]
    items: list[Item]
    best: Item | None
    tags: dict[str, int]
    comment: str = "none"


class Section(BaseModel):
    title: str
    subsections: list[Section] = []


async def test_plausible_answers_validate_against_nested_models_enums_and_lists() -> None:
    model = ScriptedModel(when_exhausted="plausible")
    response = await model.complete(_request("review", schema=Review))
    review = Review.model_validate_json(response.text)
    assert review.verdict == "accept"
    assert review.items and isinstance(review.items[0], Item)
    assert review.items[0].colour is Colour.RED
    assert review.comment == "none"  # the default is a plausible answer


async def test_plausible_answers_handle_a_recursive_model_with_a_default() -> None:
    model = ScriptedModel(when_exhausted="plausible")
    response = await model.complete(_request(schema=Section))
    assert Section.model_validate_json(response.text).subsections == []


async def test_echo_gives_a_schema_valid_answer_when_one_is_asked_for() -> None:
    response = await ScriptedModel.echo().complete(_request(schema=Item))
    assert Item.model_validate_json(response.text).colour is Colour.RED


async def test_a_plausible_string_answer_is_json_text() -> None:
    request = ModelRequest(messages=(), output_schema={"type": "string", "title": "Answer"})
    response = await ScriptedModel(when_exhausted="plausible").complete(request)
    assert json.loads(response.text) == "Answer"


class _Bounded(BaseModel):
    priority: int = Field(ge=3, le=5)


class _Dated(BaseModel):
    due: datetime


class _Pair(BaseModel):
    pair: tuple[int, str]


class _Long(BaseModel):
    summary: str = Field(min_length=20)


class _Tree(BaseModel):
    title: str
    children: list[_Tree]


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param(_Bounded, id="numeric-minimum"),
        pytest.param(_Dated, id="date-time-format"),
        pytest.param(_Pair, id="tuple-prefixItems"),
        pytest.param(_Long, id="string-minLength"),
        pytest.param(_Tree, id="recursive-required-list"),
    ],
)
async def test_plausible_answers_respect_schema_constraints(schema: type[BaseModel]) -> None:
    response = await ScriptedModel(when_exhausted="plausible").complete(_request(schema=schema))
    schema.model_validate_json(response.text)


_FIELD_TYPES: list[Any] = [  # Any: annotations for create_model
    str,
    int,
    float,
    bool,
    list[str],
    list[int],
    dict[str, float],
    Literal["low", "high"],
    Colour,
    str | None,
    Item,
    list[Item],
    Item | None,
]


@st.composite
def _models(draw: st.DrawFn) -> type[BaseModel]:
    # A prefix keeps generated names off BaseModel's own attributes (json, copy, model_*).
    names = draw(st.lists(st.from_regex(r"f_[a-z]{1,8}", fullmatch=True), max_size=6, unique=True))
    fields: dict[str, Any] = {}  # Any: create_model takes (type, default) pairs
    for name in names:
        annotation = draw(st.sampled_from(_FIELD_TYPES))
        fields[name] = (annotation, ...)
    nested = draw(st.booleans())
    if nested:
        inner = create_model("Inner", **fields)
        return create_model("Outer", inner=(inner, ...), many=(list[inner], ...))  # type: ignore[valid-type]  # dynamic
    return create_model("Generated", **fields)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=_models())
async def test_plausible_answers_validate_for_generated_models(schema: type[BaseModel]) -> None:
    response = await ScriptedModel(when_exhausted="plausible").complete(_request(schema=schema))
    try:
        schema.model_validate_json(response.text)
    except ValidationError as exc:  # pragma: no cover - shows the answer when it fails
        raise AssertionError(f"{response.text} is not valid: {exc}") from exc


def test_model_output_dumps_an_instance_as_a_reply() -> None:
    item = Item(name="kettle", quantity=2, colour=Colour.BLUE)
    reply: JsonValue = model_output(item)
    assert reply == {"name": "kettle", "quantity": 2, "colour": "blue"}
