"""The bounded YAML reader: the safe loader within caps on size, nesting and aliases."""

from __future__ import annotations

import itertools

import pytest

from podium import yaml_reader
from podium.yaml_reader import YamlLimitError


def billion_laughs(levels: int = 9) -> str:
    """A kilobyte of nested anchors that expands into 9 ** levels strings."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    names = "abcdefghijklmnop"[: levels + 1]
    for previous, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_plain_yaml_loads_as_safe_load_does() -> None:
    text = "x: &a {b: 1}\ny: *a\nz: [1, 2.5, yes, null]"
    assert yaml_reader.load(text) == {"x": {"b": 1}, "y": {"b": 1}, "z": [1, 2.5, True, None]}


def test_a_billion_laughs_document_is_refused_at_once() -> None:
    assert len(billion_laughs()) < 1024
    with pytest.raises(YamlLimitError, match=r"aliases expand into too many nodes .*1,000,000"):
        yaml_reader.load(billion_laughs())


def test_a_few_aliases_are_fine_and_the_cap_is_configurable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert len(yaml_reader.load(billion_laughs(levels=2))["c"]) == 9
    monkeypatch.setenv("PODIUM_MAX_YAML_NODES", "50")
    with pytest.raises(YamlLimitError, match="set PODIUM_MAX_YAML_NODES to raise it"):
        yaml_reader.load(billion_laughs(levels=2))


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    with pytest.raises(YamlLimitError, match="aliases expand"):
        yaml_reader.load("&a [*a]")


def test_deep_nesting_is_refused_with_its_place_not_a_recursion_error() -> None:
    with pytest.raises(YamlLimitError, match="too deeply nested") as caught:
        yaml_reader.load("[" * 5000 + "]" * 5000)
    assert caught.value.problem_mark is not None
    assert caught.value.problem_mark.column == 100


def test_a_document_over_the_byte_cap_is_refused_before_parsing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PODIUM_MAX_YAML_BYTES", "1_000")
    with pytest.raises(YamlLimitError, match=r"document too large: 2,000 bytes"):
        yaml_reader.load("#" * 2000)


def test_a_bad_cap_says_what_to_write(monkeypatch: pytest.MonkeyPatch) -> None:
    from podium.errors import ConfigError

    monkeypatch.setenv("PODIUM_MAX_YAML_DEPTH", "lots")
    with pytest.raises(ConfigError, match="PODIUM_MAX_YAML_DEPTH='lots': write a positive"):
        yaml_reader.load("a: 1")
