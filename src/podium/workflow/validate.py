"""Check a workflow as a whole before it runs; report every problem at once.

Each check is a small generator of ``Problem``s, located by the dotted document path of what
is wrong (``tasks.2.needs.0``) and, for workflows loaded from YAML, the file and line.
Sub-workflows are checked the same way and their problems included under the task's path.

A *graph level* is the top-level tasks, the tasks of one loop body, or a map's task: ``needs``
and ``routes`` name tasks of the same level, and only tasks of one level run side by side.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from jinja2.defaults import DEFAULT_NAMESPACE
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from podium.agent import Agent
from podium.errors import ConfigError, Problem, WorkflowValidationError
from podium.ids import TaskId
from podium.models.spec import parse_model_name
from podium.planner import PlanStep, Roster, check_plan
from podium.policy import Policy, parse_fallback
from podium.task import AtLeast, PlanSpec, Task
from podium.workflow.graph import ancestors, find_cycle
from podium.workflow.model import Workflow, walk
from podium.workflow.yaml import resolve_reference

__all__ = ["problems", "validate"]

_LOOP_HINT = "to repeat tasks declare a loop with `until` and `max_iterations`"
_BUILTIN_NAMES = frozenset(DEFAULT_NAMESPACE) | {"context"}
_SERVER_NAME = re.compile(r"^[A-Za-z_][\w-]*$")
"""Names every template may use: Jinja's globals and ``context`` (the readable context)."""

_Level = list[tuple[str, Task]]
"""One graph level: each task with its document path."""


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
    return [problem for check in _CHECKS for problem in check(workflow)]


def _problem(workflow: Workflow, path: str, message: str) -> Problem:
    return Problem(message, workflow.location(path), path)


def _where(workflow: Workflow, path: str) -> str:
    location = workflow.location(path)
    return f"line {location.line}" if location and location.line else path


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _levels(workflow: Workflow) -> list[_Level]:
    levels = [[(f"tasks.{i}", t) for i, t in enumerate(workflow.tasks)]]
    for path, task in walk(workflow.tasks):
        if task.loop is not None:
            body = task.loop.tasks
            levels.append([(f"{path}.loop.tasks.{i}", t) for i, t in enumerate(body)])
        if task.map is not None:
            levels.append([(f"{path}.map.task", task.map.task)])
    return levels


# -- ids and dependencies ------------------------------------------------------------------------


def _unique_ids(workflow: Workflow) -> Iterator[Problem]:
    first: dict[str, str] = {}
    for path, task in walk(workflow.tasks):
        if task.id in first:
            where = _where(workflow, first[task.id])
            msg = f"task id {task.id!r} is used twice (first at {where}); ids are unique"
            yield _problem(workflow, f"{path}.id", f"{msg} across the workflow, nested tasks too")
        else:
            first[task.id] = path


def _needs(workflow: Workflow) -> Iterator[Problem]:
    all_ids = {t.id for _, t in walk(workflow.tasks)}
    for level in _levels(workflow):
        ids = {t.id for _, t in level}
        for path, task in level:
            for index, need in enumerate(task.needs):
                at = f"{path}.needs.{index}"
                if need == task.id:
                    yield _problem(workflow, at, f"task {task.id!r} needs itself; {_LOOP_HINT}")
                elif need not in ids:
                    msg = f"task {task.id!r} needs {need!r}, which is not a task of its level"
                    if need in all_ids:
                        msg += " (a task can only need tasks of its own graph level)"
                    yield _problem(workflow, at, msg + _suggest(need, ids))


def _cycles(workflow: Workflow) -> Iterator[Problem]:
    for level in _levels(workflow):
        tasks = [_without_self_need(t) for _, t in level]  # _needs reports those
        cycle = find_cycle(tasks)
        if cycle is None:
            continue
        path, first = next((p, t) for p, t in level if t.id == cycle[0])
        closing = cycle[-2]  # cycle[0] needs it, closing the cycle
        at = f"{path}.needs.{first.needs.index(closing)}" if closing in first.needs else path
        yield _problem(workflow, at, f"tasks form a cycle: {' -> '.join(cycle)}; {_LOOP_HINT}")


def _without_self_need(task: Task) -> Task:
    if task.id not in task.needs:
        return task
    return task.model_copy(update={"needs": tuple(n for n in task.needs if n != task.id)})


def _loops(workflow: Workflow) -> Iterator[Problem]:
    for path, task in walk(workflow.tasks):
        if task.loop is None:
            continue
        if task.loop.until is None:
            msg = f"loop {task.id!r} has no `until`: say when it is done, e.g. until: review.ok"
            yield _problem(workflow, f"{path}.loop", msg)
        if task.loop.max_iterations is None:
            msg = f"loop {task.id!r} has no `max_iterations`: bound it, e.g. max_iterations: 3"
            yield _problem(workflow, f"{path}.loop", msg)


def _joins(workflow: Workflow) -> Iterator[Problem]:
    for path, task in walk(workflow.tasks):
        if isinstance(task.join, AtLeast) and task.join.at_least > len(task.needs):
            msg = (
                f"task {task.id!r} joins at_least {task.join.at_least} of its needs,"
                f" but it has {len(task.needs)}"
            )
            yield _problem(workflow, f"{path}.join", msg)


# -- agents and routes ---------------------------------------------------------------------------


def _agents(workflow: Workflow) -> Iterator[Problem]:
    names = [a.name for a in workflow.agents]
    for index, name in enumerate(names):
        if name in names[:index]:
            yield _problem(workflow, f"agents.{index}", f"agent {name!r} is defined twice")
    for path, task in walk(workflow.tasks):
        if task.agent is not None and task.agent not in names:
            known = ", ".join(names) or "none"
            msg = f"task {task.id!r} names agent {task.agent!r}, which is not in `agents`"
            yield _problem(workflow, f"{path}.agent", f"{msg} (known: {known})")


def _mcp_tools(workflow: Workflow) -> Iterator[Problem]:
    """Agents name declared MCP servers; sub-workflows leave servers to the top level."""
    for name in workflow.mcp_servers:
        if not _SERVER_NAME.match(name):
            yield _problem(workflow, f"mcp_servers.{name}", f"{name!r} is no server name")
    for agent in workflow.agents:
        for ref in agent.mcp_tools:
            if ref.server not in workflow.mcp_servers:
                known = ", ".join(workflow.mcp_servers) or "none"
                msg = f"agent {agent.name!r} uses {ref}, but no MCP server {ref.server!r} is"
                msg += f" declared in `mcp_servers` (declared: {known})"
                hint = _suggest(ref.server, workflow.mcp_servers)
                yield _problem(workflow, f"agents.{agent.name}.tools", msg + hint)


def _capabilities(workflow: Workflow) -> Iterator[Problem]:
    """A task naming a capability has at least one agent with it to route to."""
    offered = sorted({c for a in workflow.agents for c in a.capabilities})
    for path, task in walk(workflow.tasks):
        if task.capability is not None and task.capability not in offered:
            known = ", ".join(offered) or "none"
            msg = f"task {task.id!r} needs capability {task.capability!r}, which no agent has"
            hint = _suggest(task.capability, offered)
            yield _problem(workflow, f"{path}.capability", f"{msg} (known: {known}){hint}")


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
                yield _problem(workflow, path, f"{exc}; named models in `models`: {named}")


def _fallbacks(workflow: Workflow) -> Iterator[Problem]:
    """Fallback agents exist and are not the agent itself; fallback models parse or are named."""
    policies: list[tuple[str, str | None, Policy | None]] = [("defaults", None, workflow.defaults)]
    policies += [(f"agents.{a.name}.policy", a.name, a.policy) for a in workflow.agents]
    names = [a.name for a in workflow.agents]
    for path, owner, policy in policies:
        for index, fallback in enumerate(policy.fallbacks if policy else ()):
            message = _fallback_problem(workflow, fallback, owner, names)
            if message is not None:
                yield _problem(workflow, f"{path}.fallbacks.{index}", message)


def _fallback_problem(
    workflow: Workflow, fallback: str, owner: str | None, names: list[str]
) -> str | None:
    kind, name = parse_fallback(fallback)
    if kind == "agent" and name == owner:
        return f"agent {owner!r} lists itself as a fallback; name another agent or a model"
    if kind == "agent" and name not in names:
        known = ", ".join(names) or "none"
        return f"fallback agent {name!r} is not in `agents` (known: {known}){_suggest(name, names)}"
    if kind == "model" and name not in workflow.models:
        try:
            parse_model_name(name)
        except ValueError as exc:
            named = ", ".join(workflow.models) or "none"
            return f"fallback {exc}; named models in `models`: {named}"
    return None


def _routes(workflow: Workflow) -> Iterator[Problem]:
    for level in _levels(workflow):
        by_id = {t.id: t for _, t in level}
        for path, task in level:
            for index, route in enumerate(task.routes):
                target = by_id.get(route)
                at = f"{path}.routes.{index}"
                if target is None:
                    msg = f"route {route!r} of task {task.id!r} is not a task of its level"
                    yield _problem(workflow, at, msg + _suggest(route, by_id))
                elif task.id not in target.needs:
                    msg = f"route {route!r} must list {task.id!r} in its needs"
                    yield _problem(workflow, at, f"{msg}, so it waits for the router's choice")


def _agent_writes(workflow: Workflow) -> Iterator[Problem]:
    for path, task in walk(workflow.tasks):
        agent = workflow.agent(task.agent) if task.agent else None
        is_map_item = ".map." in path  # the map writes its items' outputs, under its own key
        if agent is not None and not is_map_item and not agent.may_write(task.output_key):
            msg = (
                f"agent {agent.name!r} may not write {task.output_key!r}, the output of task"
                f" {task.id!r} (it writes {list(agent.writes)}); widen its `writes` or change"
                " the task's `output`"
            )
            yield _problem(workflow, f"{path}.output" if task.output else path, msg)


# -- templates -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    """A template or expression somewhere in the workflow."""

    path: str
    text: str
    is_expression: bool
    scope: frozenset[str]
    """Names it may read besides context keys (map items)."""
    reader: Agent | None
    """The agent that reads it, whose ``reads`` apply; None for conditions and inputs."""


def _templates(workflow: Workflow) -> Iterator[Problem]:
    produced = _produced(workflow)
    for source in _sources(workflow):
        yield from _check_source(workflow, source, produced)


def _produced(workflow: Workflow) -> frozenset[str]:
    """Keys something writes: inputs, declared context keys, task outputs (not map items)."""
    outputs = {t.output_key for path, t in walk(workflow.tasks) if ".map." not in path}
    if any(t.plan is not None and t.plan.docs for _, t in walk(workflow.tasks)):
        outputs.add("sources")  # the passages a plan retrieves (``podium.orchestrator.planning``)
    return frozenset(workflow.inputs) | frozenset(workflow.context) | outputs


def _sources(workflow: Workflow) -> Iterator[_Source]:
    yield from _task_sources(workflow, workflow.tasks, "tasks", frozenset())
    items = frozenset(t.map.item for _, t in walk(workflow.tasks) if t.map is not None)
    for agent in workflow.agents:
        if agent.instructions:
            path = f"agents.{agent.name}.instructions"
            yield _Source(path, agent.instructions, False, items, agent)


def _task_sources(
    workflow: Workflow, tasks: tuple[Task, ...], prefix: str, scope: frozenset[str]
) -> Iterator[_Source]:
    for index, task in enumerate(tasks):
        yield from _one_task_sources(workflow, task, f"{prefix}.{index}", scope)


def _one_task_sources(
    workflow: Workflow, task: Task, path: str, scope: frozenset[str]
) -> Iterator[_Source]:
    reader = workflow.agent(task.agent) if task.agent else None
    yield from _agent_task_sources(task, path, scope, reader)
    if task.when:
        yield _Source(f"{path}.when", task.when, True, scope, None)
    for name, text in task.inputs.items():
        yield _Source(f"{path}.inputs.{name}", text, False, scope, None)
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


def _agent_task_sources(
    task: Task, path: str, scope: frozenset[str], reader: Agent | None
) -> Iterator[_Source]:
    if task.instruction:
        yield _Source(f"{path}.instruction", task.instruction, False, scope, reader)
    if task.grounding is not None:
        yield _Source(f"{path}.grounding.question", task.grounding.question, False, scope, reader)


def _check_source(
    workflow: Workflow, source: _Source, produced: frozenset[str]
) -> Iterator[Problem]:
    what = "expression" if source.is_expression else "template"
    error = workflow.templates.compile(source.text, is_expression=source.is_expression)
    if error is not None:
        yield _problem(workflow, source.path, f"invalid {what} {source.text!r}: {error}")
        return
    names = workflow.templates.variables(source.text, is_expression=source.is_expression)
    for name in sorted(names - _BUILTIN_NAMES - source.scope):
        if name not in produced:
            msg = (
                f"{what} reads {name!r}, which nothing produces: it is not a workflow input,"
                f" a key declared in `context`, or the output of a task"
            )
            yield _problem(workflow, source.path, msg + _suggest(name, produced | source.scope))
        elif source.reader is not None and not source.reader.may_read(name):
            msg = (
                f"{what} reads {name!r}, which agent {source.reader.name!r} may not read"
                f" (it reads {list(source.reader.reads)}); widen its `reads`"
            )
            yield _problem(workflow, source.path, msg)


# -- context keys and output ---------------------------------------------------------------------


def _concurrent_writes(workflow: Workflow) -> Iterator[Problem]:
    for level in _levels(workflow):
        yield from _level_conflicts(workflow, level)


def _level_conflicts(workflow: Workflow, level: _Level) -> Iterator[Problem]:
    tasks = [t for _, t in level]
    before: dict[TaskId, frozenset[TaskId]] = {}  # computed only if two tasks share a key
    exclusive = {frozenset(pair) for t in tasks for pair in itertools.combinations(t.routes, 2)}
    writers: dict[str, _Level] = {}
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
            yield _problem(workflow, path, msg)


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
                yield _problem(workflow, f"{path}.reducer", f"{msg}; set merge: reducer")
        elif spec.reducer is None:
            msg = f"context key {key!r} merges by reducer but names none"
            yield _problem(workflow, f"{path}.merge", f"{msg}; add reducer: module:function")
        else:
            message = _reducer_problem(spec.reducer, _base_dir(workflow))
            if message is not None:
                yield _problem(workflow, f"{path}.reducer", f"reducer of {key!r}: {message}")


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
    outputs = [t.output_key for path, t in walk(workflow.tasks) if ".map." not in path]
    if workflow.output not in outputs:
        msg = f"the workflow's output {workflow.output!r} is not written by any task"
        yield _problem(workflow, "output", msg + _suggest(workflow.output, outputs))


def _budgets(workflow: Workflow) -> Iterator[Problem]:
    """``max_tasks`` bounds a run (or a sub-workflow): agents and tasks do not take it."""
    hint = "max_tasks counts a run's tasks: set it in the workflow's `budget`"
    for agent in workflow.agents:
        if agent.budget is not None and agent.budget.max_tasks is not None:
            msg = f"agent {agent.name!r} has a budget with max_tasks; {hint}"
            yield _problem(workflow, f"agents.{agent.name}.budget.max_tasks", msg)
    for path, task in walk(workflow.tasks):
        if task.budget is not None and task.budget.max_tasks is not None:
            msg = f"task {task.id!r} has a budget with max_tasks; {hint}"
            yield _problem(workflow, f"{path}.budget.max_tasks", msg)


# -- sub-workflows -------------------------------------------------------------------------------


def _subworkflows(workflow: Workflow) -> Iterator[Problem]:
    for path, task in walk(workflow.tasks):
        sub = task.workflow
        if sub is None:
            continue
        prefix = f"{path}.workflow"
        if sub.mcp_servers or any(a.mcp_tools for a in sub.agents):
            msg = "MCP servers and tools belong to the top-level workflow (or team), whose"
            yield _problem(workflow, prefix, f"{msg} agents may call them; move them there")
        for problem in problems(sub):
            full = f"{prefix}.{problem.path}" if problem.path else prefix
            location = problem.location or workflow.location(full)
            yield Problem(problem.message, location, full)
        for name in task.inputs:
            if name not in sub.inputs:
                msg = f"sub-workflow {sub.name!r} has no input {name!r}"
                yield _problem(workflow, f"{path}.inputs.{name}", msg + _suggest(name, sub.inputs))
        for name, spec in sub.inputs.items():
            if spec.required and name not in task.inputs:
                msg = f"sub-workflow {sub.name!r} needs input {name!r}; give it in `inputs`"
                yield _problem(workflow, path, msg)


# -- plans and verification ----------------------------------------------------------------------


def _plans(workflow: Workflow) -> Iterator[Problem]:
    """A plan's planner and the agents it may give steps to are on the team."""
    names = [a.name for a in workflow.agents]
    known = ", ".join(names) or "none"
    for path, task in walk(workflow.tasks):
        if task.workflow is not None and any(t.plan for _, t in walk(task.workflow.tasks)):
            msg = f"sub-workflow {task.id!r} has a plan task; a plan runs at the top level only"
            yield _problem(workflow, f"{path}.workflow", msg)
        if task.plan is None:
            continue
        if ".loop." in path or ".map." in path:
            msg = f"plan {task.id!r} is inside a loop or map; a plan runs at the top level only"
            yield _problem(workflow, f"{path}.plan", msg)
        wanted = [("planner", task.plan.planner)]
        wanted += [(f"agents.{i}", name) for i, name in enumerate(task.plan.agents)]
        for where, name in wanted:
            if name not in names:
                msg = f"plan {task.id!r} names agent {name!r}, which is not in `agents`"
                yield _problem(workflow, f"{path}.plan.{where}", f"{msg} (known: {known})")
        if task.plan.steps:
            yield from _plan_steps(workflow, path, task.id, task.plan)


def _plan_steps(workflow: Workflow, path: str, task_id: str, spec: PlanSpec) -> Iterator[Problem]:
    """Steps written in the workflow (``--plan-only``, then edited) make a plan the team runs.

    They are checked as the engine checks them before they run: against the plan schema of
    the team (``podium.planner.plan_model``), then as a graph (``check_plan``). What the
    engine would repair (a cycle, a dangling need) is not a problem.
    """
    roster = Roster.of(spec, workflow.agents)
    at = f"{path}.plan.steps"
    try:
        plan = roster.schema(max_tasks=spec.max_tasks).model_validate({"steps": list(spec.steps)})
    except ValidationError as exc:
        for error in exc.errors():
            where, message = _step_error(at, spec, error)
            yield _problem(workflow, where, f"plan {task_id!r}: {message}")
        return
    check = check_plan(
        plan, agents=roster.names, capabilities=roster.capabilities, max_tasks=spec.max_tasks
    )
    for message in check.problems:
        named = _NAMED_STEP.match(message)
        steps = [i for i, s in enumerate(plan.steps) if named and s.id == named.group(1)]
        where = f"{at}.{steps[-1]}" if steps else at  # a repeated id: where it is repeated
        yield _problem(workflow, where, f"plan {task_id!r}: {message}")


_NAMED_STEP = re.compile(r"^(?:step|two different steps have the id) '(\w+)'")
"""The step a problem of ``check_plan`` is about."""


def _step_error(at: str, spec: PlanSpec, error: ErrorDetails) -> tuple[str, str]:
    """Where a plan schema error is (``<at>.<step>[.<key>]``) and what it says."""
    loc = error["loc"][1:]  # after "steps"
    if not loc or not isinstance(loc[0], int):  # the list itself: too many steps
        return f"{at}.{spec.max_tasks}", f"steps: {error['msg']} (its max_tasks)"
    index, key = loc[0], loc[1] if len(loc) > 1 else None
    step = spec.steps[index]
    label = f"step {step['id']!r}" if isinstance(step.get("id"), str) else f"step {index + 1}"
    if error["type"] == "extra_forbidden":
        keys = ", ".join(PlanStep.model_fields)
        return f"{at}.{index}.{key}", f"{label} has an unknown key {key!r} (a step has: {keys})"
    where = f"{at}.{index}.{key}" if isinstance(key, str) and key in step else f"{at}.{index}"
    return where, f"{label}, {key}: {error['msg']}" if key else f"{label}: {error['msg']}"


def _verifiers(workflow: Workflow) -> Iterator[Problem]:
    """A verifying task checks a key something writes, and its agent answers a Verification."""
    from podium.verifier import Verification

    produced = _produced(workflow)
    for path, task in walk(workflow.tasks):
        if task.verifies is None:
            continue
        if task.verifies not in produced:
            msg = f"task {task.id!r} verifies {task.verifies!r}, which nothing produces"
            yield _problem(workflow, f"{path}.verifies", msg + _suggest(task.verifies, produced))
        agents = [a for a in workflow.agents if a.name == task.agent]
        agents += [a for a in workflow.agents if task.capability in a.capabilities]
        for agent in agents:
            schema = agent.output_schema
            if not (schema and issubclass(schema, Verification)):
                msg = (
                    f"task {task.id!r} verifies a draft, so agent {agent.name!r} needs "
                    "output_schema: podium.verifier:Verification"
                )
                where = "agent" if task.agent else "capability"
                yield _problem(workflow, f"{path}.{where}", msg)


_CHECKS: tuple[Callable[[Workflow], Iterator[Problem]], ...] = (
    _unique_ids,
    _needs,
    _cycles,
    _loops,
    _joins,
    _agents,
    _mcp_tools,
    _capabilities,
    _models,
    _fallbacks,
    _routes,
    _agent_writes,
    _templates,
    _concurrent_writes,
    _reducers,
    _output,
    _budgets,
    _subworkflows,
    _plans,
    _verifiers,
)
