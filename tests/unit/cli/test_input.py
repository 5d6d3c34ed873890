"""``podium run -i KEY=VALUE``: values are read as YAML, anything else stays text."""

from __future__ import annotations

import pytest
import typer
from pydantic import JsonValue

from podium.cli.run import parse_input


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("docs=[a, b]", ["a", "b"]),
        ("n=3", 3),
        ("ratio=0.5", 0.5),
        ("flag=true", True),
        ("spec={depth: 2}", {"depth": 2}),
        ("topic=electric scooters", "electric scooters"),
        ("expr=a=b", "a=b"),
        ("tag=#1", "#1"),
        ("empty=", ""),
        ("nothing=null", None),
        ("day=2024-05-01", "2024-05-01"),
        ("broken=[a, b", "[a, b"),
        ("quoted='no'", "no"),
    ],
)
def test_values_are_yaml_or_text(text: str, value: JsonValue) -> None:
    key, parsed = parse_input(text)

    assert key == text.partition("=")[0]
    assert parsed == value
    assert type(parsed) is type(value)


@pytest.mark.parametrize("text", ["topic", "=value", " =x"])
def test_an_input_without_a_key_is_a_usage_error(text: str) -> None:
    with pytest.raises(typer.BadParameter, match="write KEY=VALUE"):
        parse_input(text)
