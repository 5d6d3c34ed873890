"""Tools: schemas from type hints and docstrings, argument validation, failures, timeouts."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from podium.errors import ToolError
from podium.models.base import ToolSpec
from podium.tool import Tool, tool


class Address(BaseModel):
    city: str
    postcode: str | None = None


class Offer(BaseModel):
    shop: str
    price: float


@tool
def search_prices(
    product: str,
    max_results: int = 5,
    tags: list[str] | None = None,
    sort: Literal["price", "rating"] = "price",
    ship_to: Address | None = None,
) -> list[str]:
    """Look up current prices.

    Searches every shop we know.

    Args:
        product: what to price.
        max_results (int): how many offers to return.
        tags: labels to filter by.
        sort: order of the offers.

    Returns:
        The offers, cheapest first.
    """
    return [f"{product} #{i} {sort} {','.join(tags or [])}" for i in range(max_results)]


# -- schema ------------------------------------------------------------------------------------


def test_the_tool_takes_the_functions_name_and_first_doc_paragraph() -> None:
    assert isinstance(search_prices, Tool)
    assert search_prices.name == "search_prices"
    assert search_prices.description == "Look up current prices."
    assert search_prices.timeout == timedelta(seconds=60)


def test_parameters_without_defaults_are_required() -> None:
    schema = search_prices.spec.parameters
    assert schema["type"] == "object"
    assert schema["required"] == ["product"]
    assert schema["additionalProperties"] is False


def test_the_schema_follows_the_type_hints() -> None:
    props: Any = search_prices.spec.parameters["properties"]  # Any: nested JSON schema
    assert props["product"]["type"] == "string"
    assert (props["max_results"]["type"], props["max_results"]["default"]) == ("integer", 5)
    assert props["tags"]["anyOf"] == [
        {"items": {"type": "string"}, "type": "array"},
        {"type": "null"},
    ]
    assert props["sort"]["enum"] == ["price", "rating"]
    assert props["sort"]["default"] == "price"
    assert props["ship_to"]["anyOf"] == [{"$ref": "#/$defs/Address"}, {"type": "null"}]


def test_a_pydantic_model_parameter_is_described_in_defs() -> None:
    address: Any = search_prices.spec.parameters["$defs"]  # Any: nested JSON schema
    assert address["Address"]["required"] == ["city"]
    assert set(address["Address"]["properties"]) == {"city", "postcode"}


def test_descriptions_come_from_the_args_section() -> None:
    props: Any = search_prices.spec.parameters["properties"]  # Any: nested JSON schema
    assert props["product"]["description"] == "what to price."
    assert props["max_results"]["description"] == "how many offers to return."  # type dropped
    assert props["tags"]["description"] == "labels to filter by."
    assert "description" not in props["ship_to"]  # not documented


def test_spec_is_what_a_model_sees() -> None:
    spec = search_prices.spec
    assert spec == ToolSpec(
        name="search_prices",
        description="Look up current prices.",
        parameters=search_prices.arguments.model_json_schema(),
    )


def test_a_description_may_continue_on_the_next_line() -> None:
    def fetch(url: str) -> str:
        """Fetch a page.

        Args:
            url: the address of the page,
                including its scheme.
        """
        return url

    props: Any = tool(fetch).spec.parameters["properties"]  # Any: nested JSON schema
    assert props["url"]["description"] == "the address of the page, including its scheme."


async def test_an_unannotated_parameter_accepts_any_json() -> None:
    def echo(value):  # type: ignore[no-untyped-def]  # untyped on purpose
        return value  # pyright: ignore[reportUnknownVariableType]  # untyped on purpose

    echo_tool = tool(echo)  # pyright: ignore[reportUnknownArgumentType]  # untyped on purpose
    assert echo_tool.spec.parameters["required"] == ["value"]
    assert await echo_tool.call({"value": {"a": [1, None]}}) == {"a": [1, None]}


def test_the_decorator_with_options_overrides_name_description_and_timeout() -> None:
    @tool(name="lookup", description="Find a word.", timeout=timedelta(seconds=2))
    def define(word: str) -> str:
        """Define a word."""
        return word

    assert (define.name, define.description, define.timeout) == (
        "lookup",
        "Find a word.",
        timedelta(seconds=2),
    )
    assert define.spec.name == "lookup"


def test_the_decorator_with_empty_options_keeps_the_defaults() -> None:
    @tool()
    def define(word: str) -> str:
        """Define a word."""
        return word

    assert (define.name, define.description, define.timeout) == (
        "define",
        "Define a word.",
        timedelta(seconds=60),
    )


def test_star_args_are_rejected() -> None:
    def spread(*words: str) -> str:
        return " ".join(words)

    with pytest.raises(
        TypeError, match=r"tool 'spread': \*args and \*\*kwargs cannot be described"
    ):
        tool(spread)


def test_star_star_kwargs_are_rejected() -> None:
    def options(**flags: bool) -> str:
        return str(flags)

    with pytest.raises(TypeError, match=r"tool 'options': \*args and \*\*kwargs"):
        tool(options)


# -- calls -------------------------------------------------------------------------------------


async def test_call_validates_and_passes_the_arguments() -> None:
    result = await search_prices.call({"product": "kettle", "max_results": 2, "tags": ["steel"]})
    assert result == ["kettle #0 price steel", "kettle #1 price steel"]


async def test_a_model_parameter_arrives_as_a_model_instance() -> None:
    @tool
    def ship(to: Address) -> str:
        assert isinstance(to, Address)
        return to.city

    assert await ship.call({"to": {"city": "Oslo"}}) == "Oslo"


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"max_results": 2}, r"product: Field required"),
        (
            {"product": "kettle", "max_results": "many"},
            r"max_results: Input should be a valid integer",
        ),
        ({"product": "kettle", "sort": "newest"}, r"sort: Input should be 'price' or 'rating'"),
        ({"product": "kettle", "colour": "red"}, r"colour: Extra inputs are not permitted"),
        ({"product": "kettle", "ship_to": {"postcode": "0150"}}, r"ship_to\.city: Field required"),
    ],
)
async def test_invalid_arguments_are_a_tool_error_naming_the_tool_and_field(
    arguments: dict[str, Any], problem: str
) -> None:
    with pytest.raises(
        ToolError, match=rf"^tool 'search_prices' was called with invalid arguments: .*{problem}"
    ) as caught:
        await search_prices.call(arguments)
    assert caught.value.retryable is False


async def test_an_async_function_is_awaited() -> None:
    @tool
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    assert await double.call({"x": 21}) == 42


async def test_a_sync_function_runs_off_the_event_loop() -> None:
    loop_thread = threading.get_ident()

    @tool
    def where() -> bool:
        return threading.get_ident() != loop_thread

    assert await where.call({}) is True


async def test_a_sync_function_returning_an_awaitable_is_awaited() -> None:
    async def later() -> str:
        return "done"

    @tool
    def start() -> Any:  # Any: returns a coroutine on purpose
        return later()

    assert await start.call({}) == "done"


async def test_an_exception_becomes_a_tool_error_with_its_type_message_and_cause() -> None:
    @tool
    def divide(a: int, b: int) -> float:
        return a / b

    with pytest.raises(
        ToolError, match=r"^tool 'divide' raised ZeroDivisionError: division by zero$"
    ) as caught:
        await divide.call({"a": 1, "b": 0})
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    assert caught.value.retryable is False


async def test_a_tool_error_from_the_tool_passes_through_unchanged() -> None:
    busy = ToolError("rate limited", retryable=True, retry_after=timedelta(seconds=3))

    @tool
    async def remote() -> str:
        raise busy

    with pytest.raises(ToolError) as caught:
        await remote.call({})
    assert caught.value is busy


async def test_a_hanging_tool_times_out_with_a_retryable_tool_error() -> None:
    never = asyncio.Event()
    cancelled = asyncio.Event()

    @tool(timeout=timedelta(milliseconds=50))
    async def hang() -> str:
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "unreachable"

    with pytest.raises(ToolError, match=r"^tool 'hang' did not finish within 0\.05s$") as caught:
        await hang.call({})
    assert caught.value.retryable is True
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert cancelled.is_set()


async def test_a_pydantic_model_result_becomes_json() -> None:
    @tool
    def best_offer() -> Offer:
        return Offer(shop="north", price=9.5)

    @tool
    def all_offers() -> list[Offer]:
        return [Offer(shop="north", price=9.5), Offer(shop="south", price=11)]

    assert await best_offer.call({}) == {"shop": "north", "price": 9.5}
    assert await all_offers.call({}) == [
        {"shop": "north", "price": 9.5},
        {"shop": "south", "price": 11.0},
    ]


async def test_other_results_are_made_json() -> None:
    @tool
    def mixed() -> dict[str, Any]:
        return {"pair": (1, 2), "wait": timedelta(seconds=3), "none": None}

    @tool
    def nothing() -> None:
        return None

    assert await mixed.call({}) == {"pair": [1, 2], "wait": "PT3S", "none": None}
    assert await nothing.call({}) is None


async def test_a_result_that_is_not_json_is_a_tool_error() -> None:
    @tool
    def opaque() -> object:
        return object()

    with pytest.raises(ToolError, match=r"tool 'opaque'"):
        await opaque.call({})
