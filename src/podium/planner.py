"""Planning a goal into a graph of tasks: the plan, its checks and repairs.

A ``plan`` task (``podium.task.PlanSpec``) asks a planner agent for a ``Plan``: steps, each
given to one agent of the team (or a capability the router resolves), each naming the steps
whose output it needs. The answer is constrained by ``plan_model``'s JSON schema (the team as
an enum, at most ``max_tasks`` steps); ``check_plan`` then checks what a schema cannot, the
plan as a graph. Everything here is pure: no I/O, no engine, no model.

Repair or ask again: a fault is repaired when the intended plan is obvious and the fix cannot
change what a step does, only when it starts; anything else is a problem, and the planner is
asked again with the problems listed (``podium.plan_prompt.reask_prompt``), a bounded
number of times.

- Repaired, one line each in ``PlanCheck.repairs``: an identical copy of a step (dropped); a
  step already done, re-listed by a revision (dropped, its result kept); a step id that is a
  context key of the workflow such as ``goal`` (renamed ``<id>_step``); a need on the step
  itself or on an id no step produces (dropped); a cycle (broken by dropping its needs that
  point forward in the plan: planners list steps in the order they run, so a need on a later
  step is the likely mistake). Repeated needs are merged without a line.
- Not an error: a need on a done step is satisfied; ``plan_tasks`` leaves it out of the tasks.
- Problems, in ``PlanCheck.problems``: no steps, more than ``max_tasks`` steps, an agent or
  capability not on the team, two different steps with one id, a blank instruction.

``plan_tasks`` turns a checked plan into ``podium.task.Task``s, escaping instructions so that
the engine's template rendering shows a model's ``{{`` literally. What the planner is asked
is in ``podium.plan_prompt``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from podium.agent import Agent
from podium.ids import TaskId
from podium.task import PlanSpec, Task
from podium.template import literal
from podium.tool import without_docstring

__all__ = [
    "Plan",
    "PlanCheck",
    "PlanStep",
    "Roster",
    "check_plan",
    "plan_model",
    "plan_tasks",
]

_RESULT_CHARS = 600
"""How much of a needed step's output a step's prompt shows."""


class PlanStep(BaseModel):
    """One step of a plan: an instruction for one agent (or capability)."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=without_docstring)

    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")
    """A name (letters, digits, ``_``): later steps' instructions read its output by it."""
    agent: str
    """The agent that does the step."""
    capability: str | None = None
    """When set, the router gives the step to one of the agents with this capability
    instead (``agent`` is then the planner's suggestion)."""
    instruction: str = Field(min_length=1)
    needs: list[str] = []
    """Ids of the steps whose output this step needs."""
    expected_output: str = ""
    needs_approval: bool = False
    """Whether a human must approve this step's output (a step with side effects)."""


class Plan(BaseModel):
    """A plan: the steps to reach a goal, each naming the steps it needs."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=without_docstring)

    steps: list[PlanStep] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Roster:
    """The agents a plan may give steps to, and the names its schema admits."""

    agents: tuple[Agent, ...]

    @classmethod
    def of(cls, spec: PlanSpec, team: Sequence[Agent]) -> Roster:
        """``spec.agents`` of ``team``, else every agent of it but the planner."""
        if spec.agents:
            return cls(tuple(a for a in team if a.name in spec.agents))
        return cls(tuple(a for a in team if a.name != spec.planner))

    @property
    def names(self) -> list[str]:
        """The agents' names."""
        return [a.name for a in self.agents]

    @property
    def capabilities(self) -> list[str]:
        """The capabilities a step may name instead of an agent, sorted."""
        return sorted({c for a in self.agents for c in a.capabilities})

    def schema(self, *, max_tasks: int) -> type[Plan]:
        """The plan schema for these agents (``plan_model``)."""
        return plan_model(self.names, self.capabilities, max_tasks=max_tasks)


def plan_model(agents: Sequence[str], capabilities: Sequence[str], *, max_tasks: int) -> type[Plan]:
    """The plan model for one team: what the planner's answer is validated against.

    Its JSON schema constrains the model's answer: ``agent`` is one of ``agents``,
    ``capability`` one of ``capabilities`` (or always null when there are none), and there
    are 1 to ``max_tasks`` steps. Its instances are ``Plan``s.

    Args:
        agents: the agents a step may name.
        capabilities: the capabilities a step may name instead.
        max_tasks: the most steps a plan may have.

    Returns:
        A subclass of ``Plan`` (the same class for the same arguments).
    """
    return _plan_model(tuple(agents), tuple(capabilities), max_tasks)


@lru_cache(maxsize=64)
def _plan_model(agents: tuple[str, ...], capabilities: tuple[str, ...], limit: int) -> type[Plan]:
    literal: Any = Literal  # Any: subscripted with names known only at run time
    step = create_model(
        "PlanStep",
        __base__=PlanStep,
        agent=(literal[agents] if agents else str, ...),
        capability=(_one_of(capabilities), None),
    )
    steps = Field(min_length=1, max_length=limit)
    items: Any = list  # Any: subscripted with a model built at run time
    return create_model("Plan", __base__=Plan, steps=(items[step], steps))


def _one_of(names: tuple[str, ...]) -> Any:  # Any: a type built at run time
    """``Literal[*names] | None``, or ``None`` (always null) when there are no names."""
    if not names:
        return None
    literal: Any = Literal  # Any: subscripted with names known only at run time
    return literal[names] | None


# -- checking and repairing ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanCheck:
    """What ``check_plan`` found: the repaired plan, the repairs made, what is left wrong."""

    plan: Plan
    """The plan after repairs."""
    repairs: tuple[str, ...]
    """One line per repair made."""
    problems: tuple[str, ...]
    """What could not be repaired safely; when any, the planner is asked again."""

    @property
    def is_ok(self) -> bool:
        """Whether the plan can run: it has no problems."""
        return not self.problems


def check_plan(
    plan: Plan,
    *,
    agents: Collection[str],
    capabilities: Collection[str] = (),
    max_tasks: int,
    done: Collection[str] = (),
    reserved: Collection[str] = (),
    allows_approval: bool = True,
) -> PlanCheck:
    """Check a plan, repair what is safe to repair, and list the problems left.

    Args:
        plan: the planner's plan (or revision).
        agents: the agents steps may name.
        capabilities: the capabilities steps may name instead.
        max_tasks: the most steps the plan may have (steps already done not counted).
        done: ids of steps completed by earlier revisions.
        reserved: context keys the workflow already uses; no step may take one as its id.
        allows_approval: whether a step may ask for a person's approval; when not, such
            requests are dropped (a team whose agents have no side effects).

    Returns:
        The repaired plan, one line per repair, and the problems (empty when it can run).
        When two different steps share an id, the needs are ambiguous: the graph is then
        neither repaired nor checked further.
    """
    steps, repairs = _drop_copies(plan.steps)
    clashes = _id_clashes(steps)
    steps, dropped = _drop_done(steps, done)
    repairs += dropped
    if not allows_approval:
        steps, unasked = _drop_approvals(steps)
        repairs += unasked
    problems = [
        *clashes,
        *_step_count(steps, max_tasks),
        *_unknown_names(steps, agents, capabilities),
        *_blank_instructions(steps),
    ]
    if not clashes:
        steps, renamed = _rename_reserved(steps, done=done, reserved=reserved)
        steps, fixed = _repair_needs(steps, done=done)
        steps, broken = _break_cycles(steps)
        repairs += renamed + fixed + broken
    repaired = plan.model_copy(update={"steps": steps})
    return PlanCheck(plan=repaired, repairs=tuple(repairs), problems=tuple(problems))


_Repaired = tuple[list[PlanStep], list[str]]


def _drop_copies(steps: list[PlanStep]) -> _Repaired:
    copies = [s for i, s in enumerate(steps) if s in steps[:i]]
    kept = [s for i, s in enumerate(steps) if s not in steps[:i]]
    return kept, [f"step {s.id!r} was listed twice; dropped the copy" for s in copies]


def _drop_approvals(steps: list[PlanStep]) -> _Repaired:
    asking = [s.id for s in steps if s.needs_approval]
    kept = [
        s.model_copy(update={"needs_approval": False}) if s.needs_approval else s for s in steps
    ]
    return kept, [
        f"step {step!r} asked for a person's approval, which this team's plans do not use"
        for step in asking
    ]


def _id_clashes(steps: list[PlanStep]) -> list[str]:
    ids = [s.id for s in steps]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    return [f"two different steps have the id {i!r}; give each step its own id" for i in twice]


def _drop_done(steps: list[PlanStep], done: Collection[str]) -> _Repaired:
    lines = [f"step {s.id!r} is already done; kept its result" for s in steps if s.id in done]
    return [s for s in steps if s.id not in done], lines


def _step_count(steps: list[PlanStep], max_tasks: int) -> list[str]:
    if not steps:
        return ["the plan has no steps"]
    if len(steps) > max_tasks:
        return [f"the plan has {len(steps)} steps; at most {max_tasks} are allowed: merge some"]
    return []


def _unknown_names(
    steps: list[PlanStep], agents: Collection[str], capabilities: Collection[str]
) -> list[str]:
    problems: list[str] = []
    for step in steps:
        if step.agent not in agents:
            allowed = ", ".join(agents) or "none"
            msg = f"step {step.id!r} names agent {step.agent!r}, which is not on the team"
            problems.append(f"{msg} (allowed: {allowed})")
        if step.capability is not None and step.capability not in capabilities:
            allowed = ", ".join(capabilities) or "none"
            msg = f"step {step.id!r} names capability {step.capability!r}, which no agent has"
            problems.append(f"{msg} (allowed: {allowed})")
    return problems


def _blank_instructions(steps: list[PlanStep]) -> list[str]:
    return [
        f"step {s.id!r} has a blank instruction; say what the step must do"
        for s in steps
        if not s.instruction.strip()
    ]


def _rename_reserved(
    steps: list[PlanStep], *, done: Collection[str], reserved: Collection[str]
) -> _Repaired:
    # Not an id some need names either: a dangling need must not come to name the new step.
    taken = {i for s in steps for i in (s.id, *s.needs)} | set(done) | set(reserved)
    renames: dict[str, str] = {}
    for step in (s for s in steps if s.id in reserved):
        renames[step.id] = _free_id(f"{step.id[:33]}_step", taken)  # a valid PlanStep id
        taken.add(renames[step.id])
    lines = [
        f"step id {old!r} is a context key of the workflow; renamed it {new!r}"
        for old, new in renames.items()
    ]
    renamed = [
        s.model_copy(
            update={"id": renames.get(s.id, s.id), "needs": [renames.get(n, n) for n in s.needs]}
        )
        for s in steps
    ]
    return renamed, lines


def _free_id(base: str, taken: set[str]) -> str:
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}{number}"
    return candidate


def _repair_needs(steps: list[PlanStep], *, done: Collection[str]) -> _Repaired:
    """Drop needs on the step itself and on ids nothing produces; dedupe the rest."""
    ids = {s.id for s in steps}
    repaired: list[PlanStep] = []
    lines: list[str] = []
    for step in steps:
        needs: list[str] = []
        for need in dict.fromkeys(step.needs):
            if need == step.id:
                lines.append(f"step {step.id!r} needed itself; dropped that need")
            elif need in ids or need in done:
                needs.append(need)
            else:
                lines.append(f"step {step.id!r} needed {need!r}, which no step produces; dropped")
        repaired.append(step.model_copy(update={"needs": needs}))
    return repaired, lines


def _break_cycles(steps: list[PlanStep]) -> _Repaired:
    """Drop each forward-pointing need that lies on a cycle, in plan order.

    Every cycle has a need pointing forward (following needs that point back, positions only
    decrease), and a need still on a cycle when its turn comes is dropped, so the result is
    acyclic; a forward need on no cycle is kept.
    """
    position = {s.id: i for i, s in enumerate(steps)}
    needs = {s.id: list(s.needs) for s in steps}
    lines: list[str] = []
    for step in steps:
        for need in list(needs[step.id]):
            if position.get(need, -1) < position[step.id]:
                continue
            path = _needs_path(need, step.id, needs)
            if path is not None:
                needs[step.id].remove(need)
                cycle = " -> ".join([*reversed(path), step.id])
                lines.append(
                    f"steps form a cycle: {cycle}; step {step.id!r} no longer needs {need!r}"
                )
    return [s.model_copy(update={"needs": needs[s.id]}) for s in steps], lines


def _needs_path(start: str, goal: str, needs: Mapping[str, list[str]]) -> list[str] | None:
    """The shortest chain of needs from ``start`` to ``goal`` (both included), if any."""
    paths, seen = deque([[start]]), {start}
    while paths:
        path = paths.popleft()
        if path[-1] == goal:
            return path
        for need in needs.get(path[-1], ()):
            if need not in seen:
                seen.add(need)
                paths.append([*path, need])
    return None


# -- tasks ---------------------------------------------------------------------------------------


def plan_tasks(plan: Plan, *, done: Collection[str] = ()) -> tuple[Task, ...]:
    """The plan's steps as agent tasks, in plan order.

    Each task writes its output under its step id. Its instruction shows the step's
    instruction and expected output literally (a model's ``{{`` is not a template), then the
    output of each step it needs (done ones included), read from the context at run time.

    Args:
        plan: a checked plan (``check_plan``).
        done: ids of completed steps; needs on them are satisfied and left out.

    Returns:
        One task per step.
    """
    return tuple(
        Task(
            id=TaskId(step.id),
            agent=None if step.capability else step.agent,
            capability=step.capability,
            instruction=literal(_instruction(step)) + _results_of(step.needs),
            needs=tuple(TaskId(n) for n in step.needs if n not in done),
            approval=True if step.needs_approval else None,
        )
        for step in plan.steps
    )


def _results_of(needs: Sequence[str]) -> str:
    """Template text showing each needed step's output, cut to fit a small model's window."""
    if not needs:
        return ""
    parts = [f"\n[{n}]\n{{{{ {n} | string | truncate({_RESULT_CHARS}) }}}}" for n in needs]
    return "\n\nResults of the steps this one builds on:" + "".join(parts)


def _instruction(step: PlanStep) -> str:
    if not step.expected_output.strip():
        return step.instruction
    return f"{step.instruction.rstrip()}\nExpected output: {step.expected_output.strip()}"
