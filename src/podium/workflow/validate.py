"""Check a workflow as a whole before it runs; report every problem at once.

Each check is a small generator of ``Problem``s, located by the dotted document path of what
is wrong (``tasks.2.needs.0``) and, for workflows loaded from YAML, the file and line.
Sub-workflows are checked the same way and their problems included under the task's path.

The control-flow checks (ids, needs, joins, routes, cancellation, locks) live in
``podium.workflow.control_flow``; what the checks share in ``podium.workflow.problem``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from jinja2.defaults import DEFAULT_NAMESPACE

from podium.agent import Agent
from podium.errors import ConfigError, Problem, WorkflowValidationError
from podium.ids import TaskId
from podium.models.spec import parse_model_name
from podium.policy import Policy, parse_fallback
from podium.task import Task
from podium.workflow.control_flow import CONTROL_FLOW_CHECKS
from podium.workflow.graph import ancestors
from podium.workflow.model import Workflow, walk
from podium.workflow.plan_check import PLAN_CHECKS
from podium.workflow.problem import (
    Level,
    checking,
    did_you_mean,
    graph_levels,
    input_problems,
    located,
    produced_keys,
)
from podium.workflow.yaml import resolve_reference

__all__ = ["problems", "validate"]

_BUILTIN_NAMES = frozenset(DEFAULT_NAMESPACE) | {"context"}
_SERVER_NAME = re.compile(r"^[A-Za-z_][\w-]*$")
"""Names every template may use: Jinja's globals and ``context`` (the readable context)."""


def validate(workflow: Workflow) -> None:
    """Check ``workflow`` and raise if anything is wrong.

    Args:
        workflow: the workflow to check, sub-workflows included.

    Raises:
        WorkflowValidationError: lists every problem found, each with its location.
    """
    found = problems(workflow)
    if found:
        noun = "problem" if len(found) == 1 else "problems"
        msg = f"workflow {workflow.name} is invalid: {len(found)} {noun}"
        raise WorkflowValidationError(msg, tuple(found))


def problems(workflow: Workflow) -> list[Problem]:
    """Every problem with ``workflow``, sub-workflows included; empty when it is valid.

    Args:
        workflow: the workflow to check.

    Returns:
        The problems, each with the dotted path of what is wrong and its source location.
    """
    with checking(workflow):
        return [problem for check in _CHECKS for problem in check(workflow)]


# -- agents and routes ---------------------------------------------------------------------------


def _agents(workflow: Workflow) -> Iterator[Problem]:
    names = [a.name for a in workflow.agents]
    for index, name in enumerate(names):
        if name in names[:index]:
            yield located(workflow, f"agents.{index}", f"agent {name!r} is defined twice")
    for path, task in workflow.walked():
        if task.agent is not None and task.agent not in names:
            known = ", ".join(names) or "none"
            msg = f"task {task.id!r} names agent {task.agent!r}, which is not in `agents`"
            yield located(workflow, f"{path}.agent", f"{msg} (known: {known})")


def _mcp_tools(workflow: Workflow) -> Iterator[Problem]:
    """Agents name declared MCP servers; sub-workflows leave servers to the top level."""
    for name in workflow.mcp_servers:
        if not _SERVER_NAME.match(name):
            yield located(workflow, f"mcp_servers.{name}", f"{name!r} is no server name")
    for agent in workflow.agents:
        for ref in agent.mcp_tools:
            if ref.server not in workflow.mcp_servers:
                known = ", ".join(workflow.mcp_servers) or "none"
                msg = f"agent {agent.name!r} uses {ref}, but no MCP server {ref.server!r} is"
                msg += f" declared in `mcp_servers` (declared: {known})"
                hint = did_you_mean(ref.server, workflow.mcp_servers)
                yield located(workflow, f"agents.{agent.name}.tools", msg + hint)


def _capabilities(workflow: Workflow) -> Iterator[Problem]:
    """A task naming a capability has at least one agent with it to route to."""
    offered = sorted({c for a in workflow.agents for c in a.capabilities})
    for path, task in workflow.walked():
        if task.capability is not None and task.capability not in offered:
            known = ", ".join(offered) or "none"
            msg = f"task {task.id!r} needs capability {task.capability!r}, which no agent has"
            hint = did_you_mean(task.capability, offered)
            yield located(workflow, f"{path}.capability", f"{msg} (known: {known}){hint}")


def _models(workflow: Workflow) -> Iterator[Problem]:
    """Model names must parse or name an entry of the workflow's ``models``."""
    choices = [("model", workflow.model)]
    choices += [(f"agents.{a.name}.model", a.model) for a in workflow.agents]
    for path, choice in choices:
        if isinstance(choice, str) and choice not in workflow.models:
            try:
                parse_model_name(choice)
            except ValueError as exc:
                named = ", ".join(workflow.models) or "none"
                yield located(workflow, path, f"{exc}; named models in `models`: {named}")


def _fallbacks(workflow: Workflow) -> Iterator[Problem]:
    """Fallback agents exist and are not the agent itself; fallback models parse or are named."""
    policies: list[tuple[str, str | None, Policy | None]] = [("defaults", None, workflow.defaults)]
    policies += [(f"agents.{a.name}.policy", a.name, a.policy) for a in workflow.agents]
    names = [a.name for a in workflow.agents]
    for path, owner, policy in policies:
        for index, fallback in enumerate(policy.fallbacks if policy else ()):
            message = _fallback_problem(workflow, fallback, owner, names)
            if message is not None:
                yield located(workflow, f"{path}.fallbacks.{index}", message)


def _fallback_problem(
    workflow: Workflow, fallback: str, owner: str | None, names: list[str]
) -> str | None:
    kind, name = parse_fallback(fallback)
    if kind == "agent" and name == owner:
        return f"agent {owner!r} lists itself as a fallback; name another agent or a model"
    if kind == "agent" and name not in names:
        known = ", ".join(names) or "none"
        hint = did_you_mean(name, names)
        return f"fallback agent {name!r} is not in `agents` (known: {known}){hint}"
    if kind == "model" and name not in workflow.models:
        try:
            parse_model_name(name)
        except ValueError as exc:
            named = ", ".join(workflow.models) or "none"
            return f"fallback {exc}; named models in `models`: {named}"
    return None


def _agent_writes(workflow: Workflow) -> Iterator[Problem]:
    for path, task in workflow.walked():
        agent = workflow.agent(task.agent) if task.agent else None
        is_map_item = ".map." in path  # the map writes its items' outputs, under its own key
        if agent is not None and not is_map_item and not agent.may_write(task.output_key):
            msg = (
                f"agent {agent.name!r} may not write {task.output_key!r}, the output of task"
                f" {task.id!r} (it writes {list(agent.writes)}); widen its `writes` or change"
                " the task's `output`"
            )
            yield located(workflow, f"{path}.output" if task.output else path, msg)


# -- templates -----------------------------------------------------------------------------------


class _Source(NamedTuple):
    """A template or expression somewhere in the workflow (a tuple: a 500-task workflow
    makes 500 of them on every validation)."""

    path: str
    text: str
    is_expression: bool
    scope: frozenset[str]
    """Names it may read besides context keys (map items)."""
    reader: Agent | None
    """The agent that reads it, whose ``reads`` apply; None for conditions and inputs."""


def _templates(workflow: Workflow) -> Iterator[Problem]:
    produced = produced_keys(workflow)
    templates = workflow.templates
    for source in _sources(workflow):
        names, error = templates.check(source.text, is_expression=source.is_expression)
        if error:
            what = "expression" if source.is_expression else "template"
            yield located(workflow, source.path, f"invalid {what} {source.text!r}: {error}")
        elif names:  # text without template syntax reads nothing
            unknown = names - _BUILTIN_NAMES - source.scope
            if unknown:
                yield from _check_reads(workflow, source, sorted(unknown), produced)


def _sources(workflow: Workflow) -> Iterator[_Source]:
    yield from _task_sources(workflow, workflow.tasks, "tasks", frozenset())
    items = frozenset(t.map.item for _, t in workflow.walked() if t.map is not None)
    for agent in workflow.agents:
        if agent.instructions:
            path = f"agents.{agent.name}.instructions"
            yield _Source(path, agent.instructions, False, items, agent)


def _task_sources(
    workflow: Workflow, tasks: tuple[Task, ...], prefix: str, scope: frozenset[str]
) -> Iterator[_Source]:
    for index, task in enumerate(tasks):
        path = f"{prefix}.{index}"
        if task.instruction:  # most tasks have nothing else to check: no nested generator
            yield _instruction(workflow, task, path, scope)
        if _has_more_sources(task):
            yield from _more_task_sources(workflow, task, path, scope)


def _instruction(workflow: Workflow, task: Task, path: str, scope: frozenset[str]) -> _Source:
    """A task's instruction, read by its agent."""
    reader = workflow.agent(task.agent) if task.agent else None
    return _Source(f"{path}.instruction", task.instruction, False, scope, reader)


def _has_more_sources(task: Task) -> bool:
    return bool(
        task.grounding is not None
        or task.when
        or task.inputs
        or task.loop is not None
        or task.plan is not None
        or task.map is not None
    )


def _one_task_sources(
    workflow: Workflow, task: Task, path: str, scope: frozenset[str]
) -> Iterator[_Source]:
    if task.instruction:
        yield _instruction(workflow, task, path, scope)
    yield from _more_task_sources(workflow, task, path, scope)


def _more_task_sources(
    workflow: Workflow, task: Task, path: str, scope: frozenset[str]
) -> Iterator[_Source]:
    """A task's sources besides its instruction."""
    if task.grounding is not None:
        reader = workflow.agent(task.agent) if task.agent else None
        yield _Source(f"{path}.grounding.question", task.grounding.question, False, scope, reader)
    if task.when:
        yield _Source(f"{path}.when", task.when, True, scope, None)
    for name, text in task.inputs.items():
        yield _Source(f"{path}.inputs.{name}", text, False, scope, None)
    yield from _construct_sources(workflow, task, path, scope)


def _construct_sources(
    workflow: Workflow, task: Task, path: str, scope: frozenset[str]
) -> Iterator[_Source]:
    """The sources of a loop, plan or map task's construct, its body's included."""
    if task.loop is not None:
        if task.loop.until:
            yield _Source(f"{path}.loop.until", task.loop.until, True, scope, None)
        if task.loop.best:
            yield _Source(f"{path}.loop.best", task.loop.best, True, scope, None)
        yield from _task_sources(workflow, task.loop.tasks, f"{path}.loop.tasks", scope)
    if task.plan is not None:
        yield _Source(f"{path}.plan.goal", task.plan.goal, False, scope, None)
        for name in ("approve_when", "docs"):
            text = getattr(task.plan, name)
            if text:
                yield _Source(f"{path}.plan.{name}", text, True, scope, None)
    if task.map is not None:
        yield _Source(f"{path}.map.over", task.map.over, True, scope, None)
        inner = scope | {task.map.item}
        yield from _one_task_sources(workflow, task.map.task, f"{path}.map.task", inner)


def _check_reads(
    workflow: Workflow, source: _Source, names: list[str], produced: frozenset[str]
) -> Iterator[Problem]:
    """What is wrong with ``source`` reading ``names`` (neither Jinja's nor in its scope)."""
    what = "expression" if source.is_expression else "template"
    for name in names:
        if name not in produced:
            msg = (
                f"{what} reads {name!r}, which nothing produces: it is not a workflow input,"
                f" a key declared in `context`, or the output of a task"
            )
            yield located(workflow, source.path, msg + did_you_mean(name, produced | source.scope))
        elif source.reader is not None and not source.reader.may_read(name):
            msg = (
                f"{what} reads {name!r}, which agent {source.reader.name!r} may not read"
                f" (it reads {list(source.reader.reads)}); widen its `reads`"
            )
            yield located(workflow, source.path, msg)


# -- context keys and output ---------------------------------------------------------------------


def _concurrent_writes(workflow: Workflow) -> Iterator[Problem]:
    for level in graph_levels(workflow):
        yield from _level_conflicts(workflow, level)


def _level_conflicts(workflow: Workflow, level: Level) -> Iterator[Problem]:
    tasks = [t for _, t in level]
    before: dict[TaskId, frozenset[TaskId]] = {}  # computed only if two tasks share a key
    exclusive = {frozenset(pair) for t in tasks for pair in itertools.combinations(t.routes, 2)}
    writers: dict[str, Level] = {}
    for path, task in level:
        for key in _writes(task):
            writers.setdefault(key, []).append((path, task))
    for key, group in writers.items():
        spec = workflow.context.get(key)
        if spec is not None and spec.merge != "single":
            continue
        for (_, a), (path, b) in itertools.combinations(group, 2):
            before = before or ancestors(tasks)
            if a.id == b.id or a.id in before[b.id] or b.id in before[a.id]:
                continue
            if frozenset((a.id, b.id)) in exclusive:
                continue
            msg = (
                f"tasks {a.id!r} and {b.id!r} may run at the same time and both write {key!r};"
                " make one need the other, or declare how writes combine:"
                f" context: {{{key}: {{merge: append}}}} (or last_writer_wins, reducer)"
            )
            yield located(workflow, path, msg)


def _writes(task: Task) -> frozenset[str]:
    """Keys a task writes: its output, and for a loop the outputs of its body.

    Map items write nothing: the map writes their outputs once, under its own key.
    """
    if task.loop is None:
        return frozenset({task.output_key})
    inner = (t.output_key for path, t in walk(task.loop.tasks) if ".map." not in path)
    return frozenset({task.output_key, *inner})


def _reducers(workflow: Workflow) -> Iterator[Problem]:
    for key, spec in workflow.context.items():
        path = f"context.{key}"
        if spec.merge != "reducer":
            if spec.reducer is not None:
                msg = f"context key {key!r} names a reducer but merges by {spec.merge!r}"
                yield located(workflow, f"{path}.reducer", f"{msg}; set merge: reducer")
        elif spec.reducer is None:
            msg = f"context key {key!r} merges by reducer but names none"
            yield located(workflow, f"{path}.merge", f"{msg}; add reducer: module:function")
        else:
            message = _reducer_problem(spec.reducer, _base_dir(workflow))
            if message is not None:
                yield located(workflow, f"{path}.reducer", f"reducer of {key!r}: {message}")


def _reducer_problem(reference: str, base_dir: Path | None) -> str | None:
    try:
        target = resolve_reference(reference, base_dir=base_dir)
    except ConfigError as exc:
        return exc.message
    return None if callable(target) else f"{reference!r} is not callable"


def _base_dir(workflow: Workflow) -> Path | None:
    """The directory of the file the workflow was loaded from, where its references live."""
    location = workflow.location("")
    path = Path(location.file) if location is not None else None
    return path.parent if path is not None and path.is_file() else None


def _output(workflow: Workflow) -> Iterator[Problem]:
    if workflow.output is None:
        return
    outputs = [t.output_key for path, t in workflow.walked() if ".map." not in path]
    if workflow.output not in outputs:
        msg = f"the workflow's output {workflow.output!r} is not written by any task"
        yield located(workflow, "output", msg + did_you_mean(workflow.output, outputs))


def _budgets(workflow: Workflow) -> Iterator[Problem]:
    """``max_tasks`` bounds a run (or a sub-workflow): agents and tasks do not take it."""
    hint = "max_tasks counts a run's tasks: set it in the workflow's `budget`"
    for agent in workflow.agents:
        if agent.budget is not None and agent.budget.max_tasks is not None:
            msg = f"agent {agent.name!r} has a budget with max_tasks; {hint}"
            yield located(workflow, f"agents.{agent.name}.budget.max_tasks", msg)
    for path, task in workflow.walked():
        if task.budget is not None and task.budget.max_tasks is not None:
            msg = f"task {task.id!r} has a budget with max_tasks; {hint}"
            yield located(workflow, f"{path}.budget.max_tasks", msg)


# -- sub-workflows -------------------------------------------------------------------------------


def _subworkflows(workflow: Workflow) -> Iterator[Problem]:
    for path, task in workflow.walked():
        sub = task.workflow
        if sub is None:
            continue
        prefix = f"{path}.workflow"
        if sub.mcp_servers or any(a.mcp_tools for a in sub.agents):
            msg = "MCP servers and tools belong to the top-level workflow (or team), whose"
            yield located(workflow, prefix, f"{msg} agents may call them; move them there")
        for problem in problems(sub):
            full = f"{prefix}.{problem.path}" if problem.path else prefix
            location = problem.location or workflow.location(full)
            yield Problem(problem.message, location, full)
        yield from input_problems(workflow, path, task, sub)


_CHECKS: tuple[Callable[[Workflow], Iterator[Problem]], ...] = (
    *CONTROL_FLOW_CHECKS,
    _agents,
    _mcp_tools,
    _capabilities,
    _models,
    _fallbacks,
    _agent_writes,
    _templates,
    _concurrent_writes,
    _reducers,
    _output,
    _budgets,
    _subworkflows,
    *PLAN_CHECKS,
)
