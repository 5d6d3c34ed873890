"""``podium run "GOAL"``: plan a goal in plain words on a team, run it, print a cited answer.

``--plan-only`` stops after planning and prints the plan as a tree and as a workflow file that
``podium run`` accepts (the team with the plan written in); ``--approve-plan`` makes each plan
wait for ``podium approve``; ``--docs DIR`` gives the team documents to retrieve from and cite.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import click
import yaml
from pydantic import JsonValue
from rich.prompt import Prompt
from rich.text import Text
from rich.tree import Tree

from podium import (
    KnowledgeBase,
    PodiumError,
    RunState,
    Workflow,
    check_team,
    find_team,
    goal_inputs,
    load_workflow,
)
from podium.cli.approvals import Decision, decide
from podium.cli.output import (
    EXIT_UNSUPPORTED,
    error_console,
    print_json,
    report_error,
    stdout_console,
)
from podium.cli.run import RunOptions, run_in_view, starter

__all__ = ["GoalOptions", "run_goal"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GoalOptions:
    """What ``podium run GOAL`` was asked beyond a workflow run."""

    team: Path | None = None
    docs: Path | None = None
    plan_only: bool = False
    approve_plan: bool = False


def run_goal(goal: str, options: RunOptions, goal_options: GoalOptions) -> int:
    """Plan and run ``goal`` on the team; print the answer (or the plan); return the exit code."""
    try:
        team_path = find_team(goal_options.team)
        team = load_workflow(team_path)
        check_team(team, team_path)
        inputs = goal_inputs(
            team, goal, docs=goal_options.docs, approve_plan=goal_options.approve_plan
        )
    except PodiumError as error:
        return report_error(error)
    inputs = {**options.inputs, **inputs}
    if goal_options.plan_only:
        return _plan_only(goal, team, team_path, inputs, options)

    skipped = _unreadable(goal_options.docs)
    _warn_skipped(skipped)
    start = starter(team_path, options, inputs=inputs, goal=goal)
    is_asking = goal_options.approve_plan and options.output == "view" and _is_interactive()
    code = run_in_view(
        options, start, finish=partial(_ask_about_plan, goal, options) if is_asking else None
    )
    if skipped and code == 0:  # an answer drawn from part of the documents is not verified
        _warn_skipped(skipped)
        return EXIT_UNSUPPORTED
    return code


def _unreadable(docs: Path | None) -> tuple[tuple[str, str], ...]:
    """The documents of ``docs`` that cannot be read, with why (indexing them is cached, so
    the run does not read them again)."""
    if docs is None:
        return ()
    try:
        with KnowledgeBase.open(docs) as knowledge:
            return knowledge.problems
    except PodiumError:  # the run reports it
        return ()


def _warn_skipped(skipped: tuple[tuple[str, str], ...]) -> None:
    if not skipped:
        return
    noun = "document" if len(skipped) == 1 else "documents"
    lines = [f"skipped {len(skipped)} unreadable {noun}; the answer is not verified against them:"]
    lines += [f"  {name}: {reason}" for name, reason in skipped]
    error_console().print(Text("\n".join(lines), style="yellow"))


def _is_interactive() -> bool:
    return sys.stdin.isatty() and stdout_console().is_terminal


def _ask_about_plan(goal: str, options: RunOptions, state: RunState) -> int | None:
    """At a terminal, a plan waiting for approval is shown and decided on the spot."""
    asking = [t for t in state.approvals if t.rsplit("/", 1)[-1].startswith("planner")]
    if state.status != "waiting" or len(asking) != 1:
        return None
    (task,) = asking
    proposed = state.approvals[task].output
    console = stdout_console()
    console.print()
    console.print(plan_tree(goal, proposed if isinstance(proposed, dict) else {}))
    answer = Prompt.ask(
        "Run this plan? [bold]y[/]es, [bold]n[/]o, [bold]e[/]dit it first",
        choices=["y", "n", "e"],
        default="y",
        console=console,
    )
    by = getpass.getuser()
    if answer == "n":
        reason = Prompt.ask("Why not?", default="the plan was turned down", console=console)
        decision = Decision(is_approval=False, by=by, reason=reason)
    else:
        edited = None
        if answer == "e":  # None when the editor saved no change: the plan as proposed
            text = yaml.safe_dump(proposed, sort_keys=False, allow_unicode=True)
            edited = click.edit(text, extension=".yaml")
        decision = Decision(is_approval=True, by=by, edited=edited)
    again = partial(_ask_about_plan, goal, options)  # a revised plan is asked about too
    return decide(state.run_id, [task], decision, options, finish=again)


def _plan_only(
    goal: str,
    team: Workflow,
    team_path: Path,
    inputs: dict[str, JsonValue],
    options: RunOptions,
) -> int:
    """Run only the planning (recorded like any run), then print the plan two ways."""
    task = next(t for t in team.tasks if t.plan is not None)
    assert task.plan is not None
    only = task.model_copy(
        update={"plan": task.plan.model_copy(update={"execute": False}), "needs": ()}
    )
    planning = team.model_copy(update={"tasks": (only,), "output": only.output_key})

    start = starter(planning, options, inputs=inputs)

    def finish(state: RunState) -> int | None:
        if state.status != "succeeded" or not isinstance(state.output, dict):
            return None
        text = plan_workflow_yaml(team_path, state.output, inputs)
        if options.output == "json":
            print_json({"run_id": state.run_id, "plan": state.output, "workflow": text})
            return 0
        console = stdout_console()
        tree = plan_tree(goal, state.output)
        if console.is_terminal:
            console.print(tree)
            console.print(Text("\nAs a workflow (podium run FILE runs it):", style="bold"))
        else:
            error_console().print(tree)
        console.print(text, soft_wrap=True, markup=False, highlight=False)
        return 0

    return run_in_view(
        replace(options, output="quiet" if options.output == "view" else options.output),
        start,
        finish=finish,
    )


def plan_tree(goal: str, plan: Mapping[str, Any]) -> Tree:  # Any: the plan as JSON
    """The plan as a tree: each step with its agent, needs and instruction."""
    tree = Tree(Text(f"Plan: {goal}", style="bold"))
    for step in plan.get("steps", []):
        who = step.get("agent") or f"capability {step.get('capability')}"
        label = Text()
        label.append(str(step.get("id")), style="bold cyan")
        label.append(f"  {who}", style="magenta")
        if step.get("needs"):
            label.append(f"  after {', '.join(step['needs'])}", style="dim")
        if step.get("needs_approval"):
            label.append("  (needs approval)", style="yellow")
        node = tree.add(label)
        node.add(Text(str(step.get("instruction", ""))))
        if step.get("expected_output"):
            node.add(Text(f"expected: {step['expected_output']}", style="dim"))
    return tree


def plan_workflow_yaml(team_path: Path, plan: Mapping[str, Any], inputs: Mapping[str, Any]) -> str:
    """The team file with the plan written in and the goal as default: ``podium run`` runs it."""
    data: dict[str, Any] = yaml.safe_load(team_path.read_text(encoding="utf-8"))
    tasks: list[dict[str, Any]] = data.get("tasks", [])  # Any: the team file's YAML
    for task in tasks:
        if isinstance(task.get("plan"), dict):
            task["plan"]["steps"] = [
                {k: v for k, v in step.items() if v not in (None, [], "", False)}
                for step in plan.get("steps", [])
            ]
            break
    declared = data.setdefault("inputs", {})
    for name, value in inputs.items():
        if isinstance(declared.get(name), dict):
            declared[name]["default"] = value
            declared[name].pop("required", None)
    goal = "\n#   ".join(str(inputs.get("goal")).splitlines())  # every line a comment
    header = (
        f"# Planned by podium for: {goal}\n# Edit the steps, then run it: podium run THIS_FILE\n"
    )
    return header + yaml.dump(
        data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100
    )


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (templates) as ``|`` blocks, as people write them."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    node: yaml.ScalarNode = dumper.represent_scalar(  # pyright: ignore[reportUnknownMemberType] - PyYAML's stubs leave it untyped
        "tag:yaml.org,2002:str", value, style=style
    )
    return node


_BlockDumper.add_representer(str, _text)
