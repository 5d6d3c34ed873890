"""What the planner is asked, and what each planned step searches for.

``plan_prompt`` asks for a first plan, ``replan_prompt`` for a revision after failures or a
rejecting review, ``reask_prompt`` again with the problems of an unusable plan
(``podium.planner.check_plan``); the answer's format is enforced by the plan's schema
(``podium.planner.plan_model``), not described. ``question_plan`` is the one-step plan of a
question, and ``step_query`` the search that shows a step its passages. Everything here is
pure text: no I/O, no engine, no model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from pydantic import JsonValue

from podium.agent import Agent
from podium.planner import Plan

__all__ = ["plan_prompt", "question_plan", "reask_prompt", "replan_prompt", "step_query"]

_SHORT = 200
"""Characters of an output, error or feedback shown in a re-plan prompt."""
_REASK = "Answer again with a corrected plan."


# -- questions and retrieval -------------------------------------------------------------------

_BOILERPLATE = re.compile(
    r"\b(plan ?steps?|steps?|find|look|search|gather|collect|identify|sources?|documents?|"
    r"facts?|notes?|key|main|research|analy[sz]e|analysis|review|check|write|draft|summari[sz]e|"
    r"summary|report|goal|team|task|output|results?|information|relevant|the|a|an|of|for|"
    r"and|to|in|on|about|from|with)\b|\d+[:.)]",
    re.IGNORECASE,
)


def question_plan(goal: str, team: Sequence[Agent]) -> dict[str, JsonValue]:
    """A one-step plan for a question: the team's researcher (else its first agent) answers it."""
    doer = next((a for a in team if "research" in a.capabilities), team[0] if team else None)
    agent = doer.name if doer is not None else ""
    instruction = f"Answer from the sources, citing them: {goal.strip()}"
    return {"steps": [{"id": "answer_question", "agent": agent, "instruction": instruction}]}


def step_query(goal: str, instruction: str) -> str:
    """The search for a step: the goal and the subject words of the step's instruction, not
    what every plan says ("PlanStep 1: find the key facts in the sources")."""
    subject = " ".join(_BOILERPLATE.sub(" ", instruction).split())
    return f"{goal} {subject}".strip()


# -- prompts -------------------------------------------------------------------------------------


def plan_prompt(
    goal: str, team: Sequence[Agent], *, max_tasks: int, documents: Sequence[str] = ()
) -> str:
    """What the planner is asked for a first plan.

    Args:
        goal: what the plan must achieve (rendered).
        team: the agents the steps may be given to.
        max_tasks: the most steps the plan may have.
        documents: titles of the documents the steps can consult.

    Returns:
        The prompt. The answer's format is enforced by the plan's schema, not described here.
    """
    parts = [f"Goal: {goal}", _roster(team)]
    if documents:
        parts.append("Documents the steps can use:\n" + _bullets(documents))
    parts.append("Plan the steps that reach the goal.\n" + _rules(max_tasks, revision=False))
    return "\n\n".join(parts)


def replan_prompt(
    goal: str,
    team: Sequence[Agent],
    *,
    previous: Plan,
    done: Mapping[str, str],
    failed: Mapping[str, str],
    rejected: Mapping[str, str],
    max_tasks: int,
) -> str:
    """What the planner is asked for a revised plan after failures or a rejection.

    Args:
        goal: what the plan must achieve (rendered).
        team: the agents the steps may be given to.
        previous: the plan that ran.
        done: the id of each completed step and its output.
        failed: the id of each failed step and its error.
        rejected: the id of each review step that rejected the work and its feedback.
        max_tasks: the most new steps the revision may have.

    Returns:
        The prompt.
    """
    parts = [f"Goal: {goal}", _roster(team), "The previous plan:\n" + _plan_lines(previous)]
    sections = (
        ("Done (kept; their outputs are available):", done),
        ("Failed:", failed),
        ("Rejected by a reviewer, with the feedback:", rejected),
    )
    for title, items in sections:
        if items:
            lines = (f"{key}: {_short(text) or '(empty)'}" for key, text in items.items())
            parts.append(f"{title}\n{_bullets(lines)}")
    ask = (
        "Plan the steps still needed to reach the goal. Completed steps are kept:"
        " do not repeat them; you may list their ids in needs."
    )
    parts.append(f"{ask}\n{_rules(max_tasks, revision=True)}")
    return "\n\n".join(parts)


def reask_prompt(prompt: str, problems: Sequence[str]) -> str:
    """The prompt again, with the problems of the plan it got.

    Args:
        prompt: the prompt the unusable plan answered.
        problems: what was wrong with it (``PlanCheck.problems``).

    Returns:
        The prompt for the next ask.
    """
    listed = _bullets(problems)
    return f"{prompt}\n\nYour previous plan could not be used:\n{listed}\n\n{_REASK}"


def _roster(team: Sequence[Agent]) -> str:
    lines: list[str] = []
    for agent in team:
        line = f"- {agent.name}"
        if agent.description:
            line += f": {_short(agent.description)}"
        if agent.capabilities:
            line += f" (capabilities: {', '.join(agent.capabilities)})"
        lines.append(line)
    return "Team:\n" + ("\n".join(lines) or "(nobody)")


def _rules(max_tasks: int, *, revision: bool) -> str:
    earlier = "earlier or completed steps" if revision else "earlier steps"
    rules = (
        f"At most {max_tasks} steps; fewer is better.",
        "Each step id is short snake_case, like find_sources.",
        "Each step names exactly one agent from the team.",
        f"A step's needs lists only ids of {earlier} whose output it uses.",
        "Steps that do not use each other's output must not need each other: they run in parallel.",
        "Set needs_approval for a step with side effects (it sends, publishes, pays or deletes).",
    )
    return "Rules:\n" + _bullets(rules)


def _plan_lines(plan: Plan) -> str:
    lines: list[str] = []
    for step in plan.steps:
        doer = step.agent or f"capability {step.capability}"
        needs = f", needs {', '.join(step.needs)}" if step.needs else ""
        lines.append(f"- {step.id} ({doer}{needs}): {_short(step.instruction)}")
    return "\n".join(lines)


def _bullets(lines: Iterable[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


def _short(text: str, limit: int = _SHORT) -> str:
    """``text`` on one line, cut to about ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
