"""Checks of the orchestrator's task kinds: ``plan:`` tasks (their planner, team and any
steps given in advance) and ``verifies:`` tasks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from podium.errors import Problem
from podium.planner import PlanStep, Roster, check_plan
from podium.task import PlanSpec
from podium.workflow.model import Workflow, walk
from podium.workflow.problem import did_you_mean, located, produced_keys

__all__ = ["PLAN_CHECKS"]


def _plans(workflow: Workflow) -> Iterator[Problem]:
    """A plan's planner and the agents it may give steps to are on the team."""
    names = [a.name for a in workflow.agents]
    known = ", ".join(names) or "none"
    for path, task in workflow.walked():
        if task.workflow is not None and any(t.plan for _, t in walk(task.workflow.tasks)):
            msg = f"sub-workflow {task.id!r} has a plan task; a plan runs at the top level only"
            yield located(workflow, f"{path}.workflow", msg)
        if task.plan is None:
            continue
        if ".loop." in path or ".map." in path:
            msg = f"plan {task.id!r} is inside a loop or map; a plan runs at the top level only"
            yield located(workflow, f"{path}.plan", msg)
        wanted = [("planner", task.plan.planner)]
        wanted += [(f"agents.{i}", name) for i, name in enumerate(task.plan.agents)]
        for where, name in wanted:
            if name not in names:
                msg = f"plan {task.id!r} names agent {name!r}, which is not in `agents`"
                yield located(workflow, f"{path}.plan.{where}", f"{msg} (known: {known})")
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
            yield located(workflow, where, f"plan {task_id!r}: {message}")
        return
    check = check_plan(
        plan, agents=roster.names, capabilities=roster.capabilities, max_tasks=spec.max_tasks
    )
    for message in check.problems:
        named = _NAMED_STEP.match(message)
        steps = [i for i, s in enumerate(plan.steps) if named and s.id == named.group(1)]
        where = f"{at}.{steps[-1]}" if steps else at  # a repeated id: where it is repeated
        yield located(workflow, where, f"plan {task_id!r}: {message}")


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

    produced = produced_keys(workflow)
    for path, task in workflow.walked():
        if task.verifies is None:
            continue
        if task.verifies not in produced:
            msg = f"task {task.id!r} verifies {task.verifies!r}, which nothing produces"
            yield located(workflow, f"{path}.verifies", msg + did_you_mean(task.verifies, produced))
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
                yield located(workflow, f"{path}.{where}", msg)


PLAN_CHECKS = (_plans, _verifiers)
"""The checks of plan and verification tasks."""
