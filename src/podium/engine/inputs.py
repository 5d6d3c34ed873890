"""A workflow's inputs, checked and completed with their defaults."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import JsonValue

from podium.errors import ConfigError, Problem
from podium.input_limits import input_problems
from podium.workflow.model import Workflow

__all__ = ["resolve_inputs"]


def resolve_inputs(workflow: Workflow, given: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    """Inputs with defaults filled in.

    Raises:
        ConfigError: an input is unknown, a required one is missing, one holds a NaN or
            infinite number, or they are over ``PODIUM_MAX_INPUT_BYTES``.
    """
    problems = input_problems(given)
    problems += [
        Problem(
            f"unknown input {name!r}; this workflow takes: {', '.join(workflow.inputs) or 'none'}"
        )
        for name in given
        if name not in workflow.inputs
    ]
    values: dict[str, JsonValue] = {}
    for name, spec in workflow.inputs.items():
        if name in given:
            values[name] = given[name]
        elif spec.required:
            problems.append(
                Problem(f"input {name!r} is required ({spec.description or 'no default'})")
            )
        else:
            values[name] = spec.default
    if problems:
        raise ConfigError(f"workflow {workflow.name!r} cannot start", tuple(problems))
    return values
