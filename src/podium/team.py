"""Teams: the workflow a plain-language goal runs on.

A team file is a workflow whose ``goal`` input a plan task turns into work
(``podium.task.PlanSpec``): its agents are the team. ``podium run "GOAL"`` uses, in order, the
file given with ``--team``, ``podium.yaml`` in the current directory, or the default team
shipped with podium (planner, researcher, analyst, writer, reviewer, synthesizer, verifier:
``podium/teams/default.yaml``, a good start for your own ``podium.yaml``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import JsonValue

from podium.errors import ConfigError
from podium.knowledge import DOCUMENT_SUFFIXES, document_files
from podium.workflow.model import Workflow

__all__ = ["DEFAULT_TEAM", "TEAM_FILE", "check_team", "find_team", "goal_inputs"]

DEFAULT_TEAM = Path(__file__).parent / "teams" / "default.yaml"
TEAM_FILE = "podium.yaml"
"""The team file looked for in the current directory."""


def find_team(team: str | Path | None = None, *, directory: Path | None = None) -> Path:
    """The team file to use: ``team`` if given, else ``podium.yaml`` here, else the default.

    Raises:
        ConfigError: ``team`` was given and does not exist.
    """
    if team is not None:
        path = Path(team)
        if not path.is_file():
            raise ConfigError(f"no team file {str(team)!r}")
        return path.resolve()
    local = (directory or Path.cwd()) / TEAM_FILE
    return local.resolve() if local.is_file() else DEFAULT_TEAM


def check_team(workflow: Workflow, path: Path | None = None) -> None:
    """Check that ``workflow`` can run a goal: it takes a ``goal`` input and plans with it.

    Raises:
        ConfigError: it has no ``goal`` input or no plan task.
    """
    where = f"team file {str(path)!r}" if path else f"workflow {workflow.name!r}"
    if "goal" not in workflow.inputs:
        msg = f"{where} has no `goal` input: a team is a workflow that takes the goal as input"
        raise ConfigError(msg)
    if not any(task.plan is not None for task in workflow.tasks):
        msg = f"{where} has no plan task: add one with `plan: {{goal: '{{{{ goal }}}}', ...}}`"
        raise ConfigError(msg)


def goal_inputs(
    workflow: Workflow,
    goal: str,
    *,
    docs: str | Path | None = None,
    approve_plan: bool = False,
) -> dict[str, JsonValue]:
    """The inputs that run ``goal`` on a team (only those the team declares).

    Raises:
        ConfigError: the goal is blank, or ``docs`` is not a directory or not taken.
    """
    if not goal.strip():
        raise ConfigError("the goal is empty: say in plain words what the team should achieve")
    inputs: dict[str, JsonValue] = {"goal": goal.strip()}
    if docs is not None:
        directory = Path(docs).expanduser()
        if not directory.is_dir():
            raise ConfigError(f"--docs {str(docs)!r} is not a directory")
        if not document_files(directory):
            kinds = " ".join(sorted(DOCUMENT_SUFFIXES))
            msg = f"--docs {str(docs)!r} holds no documents to read (files ending {kinds})"
            raise ConfigError(msg)
        if "docs" not in workflow.inputs:
            raise ConfigError(f"team {workflow.name!r} takes no `docs` input")
        inputs["docs"] = str(directory.resolve())
    if approve_plan:
        if "approve_plan" not in workflow.inputs:
            raise ConfigError(f"team {workflow.name!r} takes no `approve_plan` input")
        inputs["approve_plan"] = True
    return inputs
