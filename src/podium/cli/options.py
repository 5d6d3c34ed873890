"""The options that ``podium run`` shares with the commands that start or resume runs.

Each is an ``Annotated`` type that Typer reads its flag, metavar and help from; a command
takes it as a parameter's annotation (``store: StoreOption = None``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "ApprovePlanOption",
    "ConcurrencyOption",
    "DocsOption",
    "InputOption",
    "JsonOption",
    "MaxCallsOption",
    "MaxCostOption",
    "MaxTasksOption",
    "MaxTimeOption",
    "MaxTokensOption",
    "ModelOption",
    "PlanOnlyOption",
    "QuietOption",
    "StoreOption",
    "TargetArgument",
    "TeamOption",
]

TargetArgument = Annotated[
    str,
    typer.Argument(
        metavar="FILE|GOAL",
        help="A workflow file (YAML) to run, or a goal in plain words for the team to plan "
        "and carry out.",
        show_default=False,
    ),
]
TeamOption = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="For a goal: the team file (a workflow taking a `goal` input). Default: "
        "podium.yaml here, else podium's default team.",
        show_default=False,
    ),
]
DocsOption = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR",
        help="For a goal: documents (Markdown, text, HTML, PDF) the team searches and cites.",
        show_default=False,
    ),
]
PlanOnlyOption = Annotated[
    bool,
    typer.Option(
        "--plan-only",
        help="For a goal: plan it, print the plan as a tree and as a workflow file that "
        "`podium run` accepts, and stop.",
    ),
]
ApprovePlanOption = Annotated[
    bool,
    typer.Option(
        "--approve-plan",
        help="For a goal: wait for `podium approve RUN plan/planner` (or deny, or approve "
        "with --edit) before a plan runs; exits 3 while it waits.",
    ),
]
InputOption = Annotated[
    list[str] | None,
    typer.Option(
        "--input",
        "-i",
        metavar="KEY=VALUE",
        help="Set a workflow input; repeat for several. VALUE is read as YAML: -i n=3 gives a "
        "number, -i docs='\\[a, b]' a list; text that is not YAML stays text. Quote it to force "
        "text: -i answer='\"no\"'.",
        show_default=False,
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        help="Run every agent on this model instead of the ones the workflow names: local (the "
        "embedded model, offline), local:PATH.gguf, or scripted (the workflow's canned "
        "`scripted:` answers, instant and offline).",
        show_default=False,
    ),
]
StoreOption = Annotated[
    str | None,
    typer.Option(
        metavar="STORE",
        help="Where to record the run: a SQLite file, or a PostgreSQL URL "
        "(postgresql://user@host/db, ?schema=NAME for a schema other than podium; needs "
        "podium[postgres]). Default: $PODIUM_STORE, else .podium/podium.db in this or a parent "
        "directory, else podium.db in your user data directory.",
        show_default=False,
    ),
]
ConcurrencyOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        metavar="N",
        help="Run at most N agent tasks at once (default: the workflow's max_concurrency, "
        "else no limit). A limit that holds tasks back shows in the live view and podium show.",
        show_default=False,
    ),
]
MaxCostOption = Annotated[
    float | None,
    typer.Option(
        min=0, metavar="USD", help="Stop the run if it would spend more.", show_default=False
    ),
]
MaxTokensOption = Annotated[
    int | None,
    typer.Option(min=0, metavar="N", help="Stop the run past N tokens.", show_default=False),
]
MaxCallsOption = Annotated[
    int | None,
    typer.Option(min=0, metavar="N", help="Stop the run past N model calls.", show_default=False),
]
MaxTasksOption = Annotated[
    int | None,
    typer.Option(min=0, metavar="N", help="Stop the run past N agent tasks.", show_default=False),
]
MaxTimeOption = Annotated[
    str | None,
    typer.Option(
        metavar="DURATION",
        help="Stop the run after this long (90s, 5m, 1h30m). Budgets add to the workflow's "
        "own: the lower limit wins. A resumed run keeps them; `podium resume RUN --max-...` "
        "replaces them.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON object (run_id, status, output, error, tasks; for a verified "
        "answer also claims, sources and hallucination_rate) and nothing else on stdout.",
    ),
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only the final output, no progress.")
]
