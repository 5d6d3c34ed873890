"""How much podium reads: size caps on YAML files, documents, inputs and templates.

A hostile or broken input must get a clear error, not hours of CPU or gigabytes of memory:
a workflow file, a document under ``--docs`` and a run's inputs have byte caps; a YAML
document has caps on nesting depth and on how far its aliases expand (a "billion laughs"
file is a kilobyte that aliases into billions of nodes); a template has caps on range sizes,
string sizes and render time (see ``podium.template``).

Each cap is an environment variable read when it is checked, so a deployment can raise or
lower it without code (``PODIUM_MAX_YAML_BYTES=50000000 podium validate big.yaml``):

| variable | default | what it bounds |
|---|---|---|
| ``PODIUM_MAX_YAML_BYTES`` | 10 MB | a workflow, team or YAML input file |
| ``PODIUM_MAX_YAML_DEPTH`` | 100 | nested mappings and lists in a YAML document |
| ``PODIUM_MAX_YAML_NODES`` | 1,000,000 | a YAML document's nodes, aliases expanded |
| ``PODIUM_MAX_DOCUMENT_BYTES`` | 20 MB | one file under ``--docs`` |
| ``PODIUM_MAX_INPUT_BYTES`` | 10 MB | the run's inputs, as JSON |
| ``PODIUM_MAX_TEMPLATE_RANGE`` | 100,000 | the items of one ``range()`` in a template |
| ``PODIUM_MAX_TEMPLATE_CHARS`` | 10,000,000 | a string a template builds or renders |
| ``PODIUM_MAX_TEMPLATE_SECONDS`` | 10 | one template render or condition |
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, cast

from podium.errors import ConfigError, Problem

__all__ = ["LIMITS", "Limit", "check_size", "input_problems", "non_finite"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    """One cap: its environment variable, its default and what it is called in errors."""

    env: str
    default: int
    noun: str

    def value(self) -> int:
        """The cap in force: the environment variable's value if set, else the default.

        Raises:
            ConfigError: the variable is set to something other than a positive integer.
        """
        raw = os.environ.get(self.env, "").strip().replace("_", "")
        if not raw:
            return self.default
        if not raw.isdigit() or int(raw) == 0:
            msg = f"{self.env}={os.environ[self.env]!r}: write a positive whole number"
            raise ConfigError(msg)
        return int(raw)

    def exceeded(self, found: str = "") -> str:
        """The end of an error message: what was found, the cap, and how to raise it."""
        over = f"over the limit of {self.value():,} {self.noun} (set {self.env} to raise it)"
        return f"{found}, {over}" if found else over


@dataclass(frozen=True, slots=True, kw_only=True)
class _Limits:
    yaml_bytes: Limit
    yaml_depth: Limit
    yaml_nodes: Limit
    document_bytes: Limit
    input_bytes: Limit
    template_range: Limit
    template_chars: Limit
    template_seconds: Limit


_MB = 1_000_000

LIMITS: Final = _Limits(
    yaml_bytes=Limit(env="PODIUM_MAX_YAML_BYTES", default=10 * _MB, noun="bytes"),
    yaml_depth=Limit(env="PODIUM_MAX_YAML_DEPTH", default=100, noun="levels of nesting"),
    yaml_nodes=Limit(env="PODIUM_MAX_YAML_NODES", default=1_000_000, noun="nodes"),
    document_bytes=Limit(env="PODIUM_MAX_DOCUMENT_BYTES", default=20 * _MB, noun="bytes"),
    input_bytes=Limit(env="PODIUM_MAX_INPUT_BYTES", default=10 * _MB, noun="bytes"),
    template_range=Limit(env="PODIUM_MAX_TEMPLATE_RANGE", default=100_000, noun="items"),
    template_chars=Limit(env="PODIUM_MAX_TEMPLATE_CHARS", default=10 * _MB, noun="characters"),
    template_seconds=Limit(env="PODIUM_MAX_TEMPLATE_SECONDS", default=10, noun="seconds"),
)
"""Every cap podium applies to what it reads."""


def check_size(what: str, size: int, limit: Limit) -> None:
    """Refuse ``what`` if its ``size`` is over ``limit``.

    Raises:
        ConfigError: ``size`` is over the cap, naming ``what`` and how to raise the cap.
    """
    if size > limit.value():
        raise ConfigError(f"{what} is too large: {limit.exceeded(f'{size:,} {limit.noun}')}")


def non_finite(value: object) -> str | None:
    """Where in ``value`` (a JSON-like value) a NaN or infinite number is, or None.

    JSON has no such numbers: one that got into an event would be stored as ``null`` by one
    writer and ``NaN`` by another, so podium refuses them where data comes in (workflow files,
    inputs, tool results, model answers). The path is dotted (``prices.2``); ``""`` is the
    value itself.
    """
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return path
        if isinstance(item, Mapping):
            pairs = cast("Mapping[object, object]", item).items()
        elif isinstance(item, list | tuple):
            pairs = enumerate(cast("Sequence[object]", item))
        else:
            continue
        children = [(f"{path}.{key}" if path else str(key), child) for key, child in pairs]
        stack.extend(reversed(children))
    return None


def input_problems(inputs: Mapping[str, object]) -> list[Problem]:
    """What is wrong with a run's inputs as data: a NaN or infinite number, or too much of it."""
    problems: list[Problem] = []
    for name, value in inputs.items():
        where = non_finite(value)
        if where is not None:
            at = f" (at {name}.{where})" if where else ""
            msg = f"input {name!r} holds a NaN or infinite number{at}; JSON numbers are finite"
            problems.append(Problem(msg))
    try:
        size = len(json.dumps(inputs, ensure_ascii=False, default=str).encode())
    except RecursionError:
        return [*problems, Problem("the inputs are nested too deeply to be stored as JSON")]
    if size > LIMITS.input_bytes.value():
        found = f"{size:,} bytes of JSON"
        problems.append(Problem(f"the inputs are too large: {LIMITS.input_bytes.exceeded(found)}"))
    return problems
