"""Reliability policies as data: from YAML and Python, with errors that name the field."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest
from pydantic import ValidationError

from podium import Agent, ModelError, Task, TaskError, ToolError, Workflow
from podium.errors import ConfigError, WorkflowValidationError
from podium.policy import CircuitPolicy, Policy, RetryPolicy, failure_kind, parse_fallback
from podium.workflow.validate import problems, validate
from podium.workflow.yaml import parse_workflow

FLOW = """
name: report
defaults:
  retry: {max_attempts: 4, initial_backoff: 2s}
  timeout: 90s
  circuit: {failure_threshold: 3, reset_timeout: PT1M}
models:
  big: {provider: openai, name: gpt-4o, base_url: "http://127.0.0.1:8000/v1"}
agents:
  writer:
    policy:
      retry: {retry_on: [rate_limit, server, timeout, tool]}
      fallbacks: [agent:backup_writer, model:local, model:big, backup_writer]
  backup_writer:
    policy: {timeout: 1m30s}
tasks:
  - id: draft
    agent: writer
    instruction: Write.
"""


def parse(text: str) -> Workflow:
    return parse_workflow(textwrap.dedent(text).lstrip("\n"), source="flow.yaml")


def test_policies_parse_from_yaml() -> None:
    flow = parse(FLOW)
    validate(flow)
    assert flow.defaults == Policy(
        retry=RetryPolicy(max_attempts=4, initial_backoff=timedelta(seconds=2)),
        timeout=timedelta(seconds=90),
        circuit=CircuitPolicy(failure_threshold=3, reset_timeout=timedelta(minutes=1)),
    )
    writer = flow.agent("writer")
    assert writer is not None and writer.policy is not None
    assert writer.policy.fallbacks == (
        "agent:backup_writer",
        "model:local",
        "model:big",
        "agent:backup_writer",
    )
    assert writer.policy.retry == RetryPolicy(retry_on=("rate_limit", "server", "timeout", "tool"))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        *[(90, 90), (1.5, 1.5), ("2s", 2), ("500ms", 0.5), ("5m", 300), ("1h", 3600)],
        *[("1m30s", 90), ("PT2S", 2), ("P1DT2H", 93600), ("00:01:30", 90)],
    ],
)
def test_durations_take_seconds_units_and_iso_8601(text: object, seconds: float) -> None:
    assert Policy.model_validate({"timeout": text}).timeout == timedelta(seconds=seconds)


def test_yaml_errors_name_the_field_and_its_line() -> None:
    text = """
    name: report
    defaults:
      retry: {max_attempts: 0, initial_backoff: soon}
    agents:
      writer:
        policy:
          retyr: {}
          fallbacks: [agent:backup, "tool:search"]
          retry: {retry_on: [server, oops]}
    tasks:
      - {id: draft, agent: writer, instruction: Write.}
    """
    with pytest.raises(ConfigError) as caught:
        parse(text)
    found = {(p.path, str(p.location)): p.message for p in caught.value.problems}
    assert found == {
        ("defaults.retry.max_attempts", "flow.yaml:3:11"): (
            "Input should be greater than or equal to 1 (got 0)"
        ),
        ("defaults.retry.initial_backoff", "flow.yaml:3:28"): (
            "a duration is seconds (90), a number with a unit (2s, 5m, 1m30s) or ISO 8601 (PT2S)"
            " (got 'soon')"
        ),
        ("agents.0.policy.retyr", "flow.yaml:7:7"): "unknown field 'retyr'",
        ("agents.0.policy.fallbacks.1", "flow.yaml:8:33"): (
            "fallback 'tool:search' must be agent:NAME, model:NAME or an agent's name"
            " (got 'tool:search')"
        ),
        ("agents.0.policy.retry.retry_on.1", "flow.yaml:9:34"): (
            "Input should be 'rate_limit', 'timeout', 'server', 'bad_request', 'auth',"
            " 'not_found', 'context_length', 'other' or 'tool' (got 'oops')"
        ),
    }


def test_python_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"circuit\.failure_threshold\n"):
        Policy.model_validate({"circuit": {"failure_threshold": 0}})
    with pytest.raises(ValidationError, match=r"fallbacks\.0\n"):
        Policy(fallbacks=("",))
    with pytest.raises(ValidationError, match=r"timeout\n"):
        Policy(timeout=timedelta(0))


def test_validation_checks_fallback_targets() -> None:
    text = """
    name: report
    defaults:
      fallbacks: [agent:ghost]
    models:
      big: {provider: openai, name: gpt-4o}
    agents:
      writer:
        policy: {fallbacks: [agent:writer, agent:editr, model:big, model:nonsense, model:local]}
      editor: {}
    tasks:
      - {id: draft, agent: writer, instruction: Write.}
    """
    found = {p.path: p.message for p in problems(parse(text))}
    assert found == {
        "defaults.fallbacks.0": "fallback agent 'ghost' is not in `agents` (known: writer, editor)",
        "agents.writer.policy.fallbacks.0": (
            "agent 'writer' lists itself as a fallback; name another agent or a model"
        ),
        "agents.writer.policy.fallbacks.1": (
            "fallback agent 'editr' is not in `agents` (known: writer, editor);"
            " did you mean 'editor'?"
        ),
        "agents.writer.policy.fallbacks.3": (
            "fallback unknown model 'nonsense': use local, local:PATH.gguf, scripted,"
            " openai:MODEL or anthropic:MODEL (or a mapping with provider, name and base_url);"
            " named models in `models`: big"
        ),
    }
    with pytest.raises(WorkflowValidationError, match="4 problems"):
        validate(parse(text))


def test_an_agent_overrides_the_defaults_field_by_field() -> None:
    defaults = Policy.model_validate(
        {"retry": {"max_attempts": 4, "initial_backoff": "2s"}, "timeout": 90, "fallbacks": ["b"]}
    )
    agent = Policy.model_validate({"retry": {"max_attempts": 6}, "fallbacks": []})
    merged = defaults.merged(agent)
    assert merged.retry == RetryPolicy(max_attempts=6, initial_backoff=timedelta(seconds=2))
    assert merged.timeout == timedelta(seconds=90)
    assert merged.fallbacks == ()  # set explicitly, even empty, it overrides
    assert defaults.merged(None) is defaults
    assert defaults.merged(Policy()) == defaults


def test_agents_and_workflows_carry_policies_from_python() -> None:
    policy = Policy(retry=RetryPolicy(max_attempts=5), fallbacks=("backup",))
    flow = Workflow(
        name="w",
        agents=[Agent(name="writer", policy=policy), Agent(name="backup")],
        tasks=[Task(id="t", agent="writer", instruction="x")],
        defaults=Policy(timeout=timedelta(seconds=30)),
    )
    validate(flow)
    writer = flow.agent("writer")
    assert writer is not None and writer.policy is not None
    assert writer.policy.fallbacks == ("agent:backup",)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("backup", ("agent", "backup")),
        ("agent:backup", ("agent", "backup")),
        ("model:local", ("model", "local")),
        ("model:openai:gpt-4o-mini", ("model", "openai:gpt-4o-mini")),
    ],
)
def test_fallbacks_parse(text: str, parsed: tuple[str, str]) -> None:
    assert parse_fallback(text) == parsed


@pytest.mark.parametrize("text", ["", "agent:", "model:", "openai:gpt-4o", "a b"])
def test_fallbacks_that_are_neither_agent_nor_model_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="must be agent:NAME, model:NAME or an agent's name"):
        parse_fallback(text)


def _timed_out_tool() -> ToolError:
    error = ToolError("tool 'f' did not finish within 5s", retryable=True)
    error.__cause__ = TimeoutError()
    return error


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ModelError("x", kind="rate_limit"), "rate_limit"),
        (ModelError("x", kind="bad_request"), "bad_request"),
        (_timed_out_tool(), "timeout"),
        (ToolError("tool 'f' raised"), "tool"),
        (TaskError("invalid output"), "other"),
    ],
)
def test_failures_are_classified_for_retry_on(error: TaskError, kind: str) -> None:
    assert failure_kind(error) == kind


def test_retry_on_replaces_the_errors_own_retryability() -> None:
    tools_only = RetryPolicy(retry_on=("tool",))
    assert tools_only.is_retryable(ToolError("tool 'f' raised"))
    assert not tools_only.is_retryable(ModelError("503", kind="server"))
    assert RetryPolicy().is_retryable(ModelError("503", kind="server"))
    assert not RetryPolicy().is_retryable(ToolError("tool 'f' raised"))
