"""A run's inputs: resolved when it starts, restored when it resumes, secret ones masked.

Every input, defaults filled in, is recorded in ``run_started``; the run then writes each to
its context. A run interrupted between the two resumes with the inputs ``run_started`` holds.
An input marked secret (``secret: true``, or read from ``env:``) is masked in the log
(``podium.secrets``), so a resumed run reads it again from its environment variable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from pydantic import JsonValue

from podium.errors import ConfigError, Problem
from podium.event import Event, RunStarted
from podium.input_limits import input_problems
from podium.models.spec import ModelSpec
from podium.workflow.model import Workflow

__all__ = [
    "recorded_inputs",
    "resolve_inputs",
    "secret_env_names",
    "secret_values",
    "workflows_in",
]


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
        elif spec.env is not None and spec.env in os.environ:
            values[name] = os.environ[spec.env]
        elif spec.required:
            problems.append(
                Problem(f"input {name!r} is required ({spec.description or 'no default'})")
            )
        else:
            values[name] = spec.default
    if problems:
        raise ConfigError(f"workflow {workflow.name!r} cannot start", tuple(problems))
    return values


def recorded_inputs(workflow: Workflow, started: Event) -> dict[str, JsonValue]:
    """The inputs ``started`` (a ``run_started``) recorded, secret ones read again from their
    environment variable.

    Raises:
        ConfigError: a secret input has no environment variable to read it from again.
    """
    assert isinstance(started, RunStarted)
    inputs = dict(started.inputs)
    for name, spec in workflow.inputs.items():
        if name not in inputs or not spec.is_secret:
            continue
        if spec.env is None or spec.env not in os.environ:
            why = f"${spec.env} is not set" if spec.env else "it names no env: variable"
            msg = f"run {started.run_id}: secret input {name!r} is not in the log and {why}"
            raise ConfigError(msg)
        inputs[name] = os.environ[spec.env]
    return inputs


def secret_values(workflow: Workflow, inputs: Mapping[str, JsonValue]) -> list[str]:
    """The values of the secret inputs among ``inputs``, as text to mask."""
    specs = workflow.inputs
    return [
        value if isinstance(value, str) else json.dumps(value)
        for name, value in inputs.items()
        if name in specs and specs[name].is_secret
    ]


def secret_env_names(workflow: Workflow) -> set[str]:
    """The environment variables the workflow's settings name (``api_key_env``, ``env``)."""
    names: set[str] = set()
    for current in workflows_in(workflow):
        specs = [current.model, *current.models.values(), *(a.model for a in current.agents)]
        names |= {s.api_key_env for s in specs if isinstance(s, ModelSpec) and s.api_key_env}
        names |= {i.env for i in current.inputs.values() if i.env is not None}
    return names


def workflows_in(workflow: Workflow) -> list[Workflow]:
    """The workflow and every sub-workflow in it."""
    found = [workflow]
    for current in found:  # walked(): listed once per workflow, not walked on every call
        found.extend(t.workflow for _, t in current.walked() if t.workflow is not None)
    return found
